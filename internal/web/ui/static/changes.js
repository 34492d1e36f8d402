// Shared by the pages that make changes the device undoes unless they are
// confirmed (Network, Access point): a JSON request helper and
// trackChange, which counts a pending change down and, when asked to,
// confirms it as soon as this browser reaches the device again after the
// change (the LuCI way: a change that cut the browser off rolls itself
// back). An external file: the CSP forbids inline script.
(function () {
  'use strict';
  var devmgr = window.devmgr = window.devmgr || {};

  // request does a JSON API call. It resolves {status, body}; it rejects
  // only when the device cannot be reached (or the timeout passes).
  devmgr.request = function (method, url, body, opts) {
    opts = opts || {};
    var ctl = new AbortController();
    var timer = setTimeout(function () { ctl.abort(); }, opts.timeout || 5000);
    var init = { method: method, headers: { 'Accept': 'application/json' }, cache: 'no-store', credentials: 'same-origin', signal: ctl.signal };
    if (method !== 'GET') init.headers['X-CSRF-Token'] = opts.csrf || '';
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    return fetch(url, init).then(function (res) {
      if (res.status === 401) window.location.assign('/login');
      return res.text().then(function (t) {
        var data = null;
        try { data = t ? JSON.parse(t) : null; } catch (e) { data = { error: t }; }
        return { status: res.status, body: data };
      });
    }).finally(function () { clearTimeout(timer); });
  };

  var HOLDOFF_MS = 3000; // let the device settle before the first probe
  var PROBE_MS = 1000;

  // trackChange shows a pending change in panel, an element holding
  // [data-role=status], [data-role=detail], [data-role=countdown] and a
  // [data-role=confirm] button. opts:
  //   id, seconds: the change and the seconds left until its rollback
  //   what: what changed, for the messages ("the access point settings")
  //   url: the change's API URL; url + '/confirm' confirms it
  //   csrf: the form token
  //   auto: confirm by itself once the device answers (the change was made
  //         from this page); false only watches and offers the button
  //   unreachable: the detail shown while the device is out of reach
  //         (default: a hint to join the WiFi with its new settings)
  //   onEnd(change): called once with the final change (confirmed or rolled_back)
  // It returns {stop()}.
  devmgr.trackChange = function (panel, opts) {
    var q = function (role) { return panel.querySelector('[data-role="' + role + '"]'); };
    var btn = q('confirm');
    var deadline = performance.now() + Math.max(0, opts.seconds) * 1000;
    var done = false;
    var req = function (method, url, timeout) { return devmgr.request(method, url, undefined, { csrf: opts.csrf, timeout: timeout }); };

    function show(kind, status, detail) {
      panel.className = 'alert alert-' + kind;
      q('status').textContent = status;
      q('detail').textContent = detail || '';
    }
    function left() { return Math.max(0, Math.ceil((deadline - performance.now()) / 1000)); }
    function countdown() {
      if (done) return;
      var s = left();
      q('countdown').textContent = s + ' s';
      if (s === 0) show('warning', 'Rolling back ' + opts.what + '…', 'The change was not confirmed in time; the device restores the previous settings.');
    }
    function finish(ch) {
      if (done) return;
      done = true;
      clearInterval(tick);
      q('countdown').textContent = '';
      if (btn) btn.classList.add('d-none');
      if (ch.status === 'confirmed') {
        show('success', 'Change confirmed: ' + opts.what + ' stay.', '');
      } else {
        show('danger', 'Change rolled back: ' + opts.what + ' are as before.',
          'It was not confirmed in time, so the previous settings were restored.' + (ch.error ? ' ' + ch.error : ''));
      }
      panel.setAttribute('data-status', ch.status);
      if (opts.onEnd) opts.onEnd(ch);
    }
    // settle asks how a change that is no longer pending ended.
    function settle() {
      return req('GET', opts.url, 4000).then(function (g) {
        if (g.status === 200 && g.body.status !== 'pending') finish(g.body);
      });
    }
    function confirm(auto) {
      if (done) return;
      if (btn) btn.disabled = true;
      return req('POST', opts.url + '/confirm', 4000).then(function (r) {
        if (r.status === 200) return finish(r.body);
        if (r.status === 409 || r.status === 404) return settle();
        if (btn) btn.disabled = false;
        q('detail').textContent = (r.body && r.body.error) || ('Confirming failed (' + r.status + ').');
        if (auto) setTimeout(probe, PROBE_MS);
      }).catch(function () {
        if (btn) btn.disabled = false;
        if (auto) setTimeout(probe, PROBE_MS);
      });
    }
    // probe: reaching the device is the proof that the change did not cut
    // this browser off, so a pending change is confirmed.
    function probe() {
      if (done) return;
      req('GET', opts.url, 2000).then(function (r) {
        if (done) return;
        if (r.status === 200 && r.body.status === 'pending') return confirm(true);
        if (r.status === 200) return finish(r.body);
        setTimeout(probe, PROBE_MS);
      }).catch(function () {
        if (done) return;
        q('detail').textContent = opts.unreachable || 'Trying to reach the device again… (after a WiFi change, join the network with its new settings)';
        setTimeout(probe, PROBE_MS);
      });
    }
    // watch: a change made elsewhere ends by itself or by the button.
    function watch() {
      if (done) return;
      req('GET', opts.url, 2000).then(function (r) {
        if (r.status === 200 && r.body.status !== 'pending') finish(r.body);
      }).catch(function () {}).finally(function () { if (!done) setTimeout(watch, 2000); });
    }

    panel.removeAttribute('data-status');
    panel.setAttribute('data-change-id', opts.id);
    show('info', 'Applied ' + opts.what + '; waiting for confirmation.',
      opts.auto ? 'This page confirms the change as soon as it reaches the device again. If it cannot, the change is undone when the countdown ends.'
        : btn ? 'A change is pending. Keep it, or it is undone when the countdown ends.'
          : 'A change is pending: it is undone when the countdown ends unless an admin confirms it.');
    if (btn) {
      btn.classList.remove('d-none');
      btn.disabled = false;
      btn.onclick = function () { confirm(false); };
    }
    var tick = setInterval(countdown, 250);
    countdown();
    if (opts.auto) setTimeout(probe, HOLDOFF_MS); else watch();
    return { stop: function () { done = true; clearInterval(tick); } };
  };
})();

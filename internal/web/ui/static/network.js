// The Network page: live interface state and rates (polling
// /api/v1/interfaces every 2 s), sparklines, and the LAN forms whose
// changes are applied at once, counted down, and confirmed by this page
// once it reaches the device again (as LuCI does). An external file: the
// CSP forbids inline script.
(function () {
  'use strict';
  var root = document.getElementById('network');
  if (!root) return;
  var csrf = root.getAttribute('data-csrf') || '';
  var POLL_MS = 2000;
  var SAMPLES = 30;
  var HOLDOFF_MS = 3000; // wait before probing, so the network settles (LuCI's apply_holdoff)
  var PROBE_MS = 1000;
  var AGENT_DOWN = 'The device agent is not running: network information and changes are unavailable.';

  // request does a JSON API call; it resolves {status, body} and rejects
  // only when the device cannot be reached (or the timeout passes).
  function request(method, url, body, timeoutMs) {
    var ctl = new AbortController();
    var timer = setTimeout(function () { ctl.abort(); }, timeoutMs || 5000);
    var opts = { method: method, headers: { 'Accept': 'application/json' }, cache: 'no-store', credentials: 'same-origin', signal: ctl.signal };
    if (method !== 'GET') opts.headers['X-CSRF-Token'] = csrf;
    if (body !== undefined) {
      opts.headers['Content-Type'] = 'application/json';
      opts.body = JSON.stringify(body);
    }
    return fetch(url, opts).then(function (res) {
      if (res.status === 401) { window.location.assign('/login'); }
      return res.text().then(function (t) {
        var data = null;
        try { data = t ? JSON.parse(t) : null; } catch (e) { data = { error: t }; }
        return { status: res.status, body: data };
      });
    }).finally(function () { clearTimeout(timer); });
  }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function fmtRate(bps) {
    if (bps === null || bps === undefined || !isFinite(bps)) return '–';
    var units = ['bit/s', 'kbit/s', 'Mbit/s', 'Gbit/s', 'Tbit/s'];
    var i = 0;
    while (bps >= 1000 && i < units.length - 1) { bps /= 1000; i++; }
    return (i === 0 ? Math.round(bps) : bps.toFixed(bps < 10 ? 2 : 1)) + ' ' + units[i];
  }

  function stateOf(i) {
    if (!i.admin_up) return 'down';
    if (!i.carrier) return 'no carrier';
    return 'up';
  }

  // --- live state, rates and sparklines ---
  var hist = {}; // name → {t, rx, tx, rxRates, txRates}
  var agentDown = document.getElementById('agent-down');

  function setText(card, field, text) {
    var e = card.querySelector('[data-field="' + field + '"]');
    if (e && e.textContent !== text) e.textContent = text;
    return e;
  }

  var SVGNS = 'http://www.w3.org/2000/svg';
  function sparkline(box, rx, tx) {
    var w = 120, h = 32;
    var svg = box.firstElementChild;
    if (!svg) {
      svg = document.createElementNS(SVGNS, 'svg');
      svg.setAttribute('viewBox', '0 0 ' + w + ' ' + h);
      svg.setAttribute('preserveAspectRatio', 'none');
      svg.setAttribute('role', 'img');
      var axis = document.createElementNS(SVGNS, 'line');
      axis.setAttribute('class', 'axis');
      axis.setAttribute('x1', 0); axis.setAttribute('x2', w);
      axis.setAttribute('y1', h - 0.5); axis.setAttribute('y2', h - 0.5);
      svg.appendChild(axis);
      ['rx', 'tx'].forEach(function (c) {
        var p = document.createElementNS(SVGNS, 'polyline');
        p.setAttribute('class', c);
        svg.appendChild(p);
      });
      var title = document.createElementNS(SVGNS, 'title');
      title.textContent = 'receive (green) and transmit (blue), last minute';
      svg.appendChild(title);
      box.appendChild(svg);
    }
    var peak = 8000; // bit/s: a few stray packets do not fill the chart
    rx.concat(tx).forEach(function (v) { if (v > peak) peak = v; });
    function points(vals) {
      var step = w / (SAMPLES - 1);
      var off = SAMPLES - vals.length;
      return vals.map(function (v, k) {
        return ((off + k) * step).toFixed(1) + ',' + (h - 1 - (v / peak) * (h - 3)).toFixed(1);
      }).join(' ');
    }
    svg.querySelector('.rx').setAttribute('points', points(rx));
    svg.querySelector('.tx').setAttribute('points', points(tx));
  }

  function updateCard(i, now) {
    var card = root.querySelector('.iface[data-iface="' + CSS.escape(i.name) + '"]');
    if (!card) return;
    var st = stateOf(i);
    var badge = setText(card, 'state', st);
    if (badge) badge.className = 'ms-auto badge ' + (st === 'up' ? 'text-bg-success' : st === 'down' ? 'text-bg-secondary' : 'text-bg-warning');
    setText(card, 'kind', i.kind);
    setText(card, 'mac', i.mac || '–');
    setText(card, 'mtu', String(i.mtu));
    setText(card, 'gateway', i.gateway || '–');
    var mode = card.querySelector('[data-field="mode"]');
    if (mode) mode.textContent = i.mode === 'dhcp' ? 'DHCP' : i.mode === 'static' ? 'static' : 'not set by devmgr';
    var ul = card.querySelector('[data-field="addresses"]');
    var addrs = i.addresses || [];
    var want = addrs.length ? addrs.join('\n') : 'none';
    if (ul && ul.textContent.trim() !== want && Array.prototype.map.call(ul.children, function (li) { return li.textContent; }).join('\n') !== want) {
      ul.replaceChildren();
      if (addrs.length === 0) ul.appendChild(el('li', 'text-body-secondary', 'none'));
      addrs.forEach(function (a) { ul.appendChild(el('li', '', a)); });
    }
    var lease = card.querySelector('[data-field="lease"]');
    if (lease) {
      var l = i.mode === 'dhcp' ? i.lease : null;
      lease.classList.toggle('d-none', !l);
      if (l) {
        setText(card, 'lease-server', l.server || '–');
        setText(card, 'lease-address', l.address || '–');
        setText(card, 'lease-time', humanSeconds(l.lease_time));
        setText(card, 'lease-expiry', l.expiry ? new Date(l.expiry).toISOString().replace('T', ' ').replace(/\.\d+Z$/, '') + ' UTC' : '–');
      }
    }
    var h = hist[i.name];
    if (!h) {
      h = hist[i.name] = { rxRates: [], txRates: [] };
    } else {
      var dt = (now - h.t) / 1000;
      if (dt > 0) {
        // Counters go backwards when a link is recreated: no rate for that step.
        var rx = i.rx_bytes >= h.rx ? (i.rx_bytes - h.rx) * 8 / dt : 0;
        var tx = i.tx_bytes >= h.tx ? (i.tx_bytes - h.tx) * 8 / dt : 0;
        h.rxRates.push(rx); h.txRates.push(tx);
        if (h.rxRates.length > SAMPLES) { h.rxRates.shift(); h.txRates.shift(); }
        setText(card, 'rx-rate', fmtRate(rx));
        setText(card, 'tx-rate', fmtRate(tx));
      }
    }
    h.t = now; h.rx = i.rx_bytes; h.tx = i.tx_bytes;
    var box = card.querySelector('[data-field="spark"]');
    if (box) sparkline(box, h.rxRates, h.txRates);
  }

  function humanSeconds(s) {
    if (!s && s !== 0) return '–';
    var d = Math.floor(s / 86400), hh = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60), sec = s % 60;
    var parts = [];
    if (d) parts.push(d + 'd');
    if (hh) parts.push(hh + 'h');
    if (m) parts.push(m + 'm');
    if (sec || !parts.length) parts.push(sec + 's');
    return parts.join(' ');
  }

  function poll() {
    request('GET', '/api/v1/interfaces', undefined, 5000).then(function (r) {
      if (r.status === 200 && Array.isArray(r.body)) {
        if (agentDown) agentDown.classList.add('d-none');
        var now = performance.now();
        r.body.forEach(function (i) { updateCard(i, now); });
        root.setAttribute('data-polled', String((+root.getAttribute('data-polled') || 0) + 1));
      } else if (r.status === 503 && agentDown) {
        agentDown.textContent = (r.body && r.body.error) || AGENT_DOWN;
        agentDown.classList.remove('d-none');
      }
    }).catch(function () { /* the device is out of reach: try again */ })
      .finally(function () { setTimeout(poll, POLL_MS); });
  }
  poll();

  // --- changes: countdown, automatic confirmation, Confirm now ---
  var panel = document.getElementById('change-panel');
  var change = null; // {id, iface, deadline (performance.now() ms), auto, done}
  var tick = null;

  function showChange(kind, status, detail) {
    if (!panel) return;
    panel.className = 'alert alert-' + kind;
    panel.querySelector('#change-status').textContent = status;
    panel.querySelector('#change-detail').textContent = detail || '';
  }

  function secondsLeft() {
    return Math.max(0, Math.ceil((change.deadline - performance.now()) / 1000));
  }

  function renderCountdown() {
    if (!change || change.done) return;
    var left = secondsLeft();
    document.getElementById('change-countdown').textContent = left + ' s';
    if (left === 0) {
      showChange('warning', 'Rolling back the change to ' + change.iface + '…', 'It was not confirmed in time; the device restores the previous settings.');
    }
  }

  function finish(ch) {
    if (!change || change.done) return;
    change.done = true;
    clearInterval(tick);
    document.getElementById('change-countdown').textContent = '';
    document.getElementById('confirm-now').classList.add('d-none');
    setFormsBusy(false);
    if (ch.status === 'confirmed') {
      showChange('success', 'Change to ' + change.iface + ' confirmed.', 'The new settings stay.');
    } else if (ch.status === 'rolled_back') {
      showChange('danger', 'Change to ' + change.iface + ' rolled back.',
        'It was not confirmed in time, so the previous settings were restored.' + (ch.error ? ' ' + ch.error : ''));
    }
    panel.setAttribute('data-status', ch.status);
  }

  function startChange(ch, secondsToRollback, auto) {
    change = { id: ch.change_id, iface: ch.interface, deadline: performance.now() + secondsToRollback * 1000, auto: auto, done: false };
    panel.removeAttribute('data-status');
    panel.setAttribute('data-change-id', ch.change_id);
    showChange('info', 'Change to ' + ch.interface + ' applied; waiting for confirmation.',
      auto ? 'This page confirms it as soon as it reaches the device again. If it cannot, the change is rolled back when the countdown ends.'
        : 'A change is pending. Confirm it to keep it, or it is rolled back when the countdown ends.');
    var btn = document.getElementById('confirm-now');
    btn.classList.remove('d-none');
    btn.disabled = false;
    setFormsBusy(true);
    clearInterval(tick);
    tick = setInterval(renderCountdown, 250);
    renderCountdown();
    if (auto) setTimeout(probe, HOLDOFF_MS);
  }

  // probe asks for the change; reaching the device is the proof that the
  // change did not cut this browser off, so a pending change is confirmed.
  function probe() {
    if (!change || change.done) return;
    var id = change.id;
    request('GET', '/api/v1/changes/' + encodeURIComponent(id), undefined, 2000).then(function (r) {
      if (!change || change.done || change.id !== id) return;
      if (r.status === 200 && r.body.status === 'pending') {
        return confirmChange(true);
      }
      if (r.status === 200) return finish(r.body);
      setTimeout(probe, PROBE_MS);
    }).catch(function () {
      if (change && !change.done) {
        document.getElementById('change-detail').textContent = 'Trying to reach the device again…';
        setTimeout(probe, PROBE_MS);
      }
    });
  }

  function confirmChange(auto) {
    if (!change || change.done) return;
    var id = change.id;
    var btn = document.getElementById('confirm-now');
    btn.disabled = true;
    return request('POST', '/api/v1/changes/' + encodeURIComponent(id) + '/confirm', undefined, 4000).then(function (r) {
      if (r.status === 200) return finish(r.body);
      if (r.status === 409 || r.status === 404) {
        // No longer pending: show how it ended.
        return request('GET', '/api/v1/changes/' + encodeURIComponent(id), undefined, 4000).then(function (g) {
          if (g.status === 200) finish(g.body);
        });
      }
      btn.disabled = false;
      document.getElementById('change-detail').textContent = (r.body && r.body.error) || ('Confirming failed (' + r.status + ').');
      if (auto) setTimeout(probe, PROBE_MS);
    }).catch(function () {
      btn.disabled = false;
      if (auto) setTimeout(probe, PROBE_MS);
    });
  }

  if (panel) {
    document.getElementById('confirm-now').addEventListener("click", function () { confirmChange(false); });
    // A change pending when the page loaded (made elsewhere, or before a reload).
    var pid = panel.getAttribute('data-change-id');
    if (pid) {
      startChange({ change_id: pid, interface: panel.getAttribute('data-interface') },
        +panel.getAttribute('data-rollback-in') || 0, false);
      // Watch for its end without confirming it.
      (function watch() {
        if (!change || change.done || change.auto) return;
        request('GET', '/api/v1/changes/' + encodeURIComponent(pid), undefined, 2000).then(function (r) {
          if (r.status === 200 && r.body.status !== 'pending') finish(r.body);
        }).catch(function () {}).finally(function () { setTimeout(watch, 2000); });
      })();
    }
  }

  // --- the LAN forms ---
  function setFormsBusy(busy) {
    root.querySelectorAll('.lan-form button').forEach(function (b) { b.disabled = busy; });
  }

  function clearErrors(form) {
    form.querySelectorAll('.is-invalid').forEach(function (e) { e.classList.remove('is-invalid'); });
    form.querySelectorAll('[data-error-for]').forEach(function (e) { e.textContent = ''; });
    var fe = form.querySelector('.form-error');
    fe.textContent = '';
    fe.classList.add('d-none');
  }

  function formError(form, msg) {
    var fe = form.querySelector('.form-error');
    fe.textContent = msg;
    fe.classList.remove('d-none');
  }

  // showError puts an API error beside its field (addresses[1] → the
  // addresses input), or above the form.
  function showError(form, r) {
    var b = r.body || {};
    var msg = b.error || ('The request failed (' + r.status + ').');
    if (r.status === 409) {
      formError(form, 'Another change is pending: confirm it or wait for its rollback before making another. (' + msg + ')');
      return;
    }
    if (r.status === 503) {
      formError(form, msg);
      return;
    }
    var field = (b.field || '').replace(/\[\d+\]$/, '');
    var input = field && form.querySelector('[name="' + CSS.escape(field) + '"]');
    if (input && !input.closest('.d-none')) {
      input.classList.add('is-invalid');
      var fb = form.querySelector('[data-error-for="' + CSS.escape(field) + '"]');
      var which = b.field !== field ? b.field + ': ' : '';
      if (fb) fb.textContent = which + msg;
      input.focus();
      return;
    }
    formError(form, (b.field ? b.field + ': ' : '') + msg);
  }

  function list(v) {
    return v.split(/[\s,]+/).filter(function (s) { return s !== ''; });
  }

  function submitChange(form, method, url, body) {
    clearErrors(form);
    setFormsBusy(true);
    request(method, url, body, 15000).then(function (r) {
      if (r.status === 202 && r.body && r.body.change_id) {
        var ch = r.body;
        // Count down by the agent's own clock: rollback_at − created_at.
        var secs = (new Date(ch.rollback_at) - new Date(ch.created_at)) / 1000;
        if (!isFinite(secs) || secs <= 0) secs = (new Date(ch.rollback_at) - Date.now()) / 1000;
        startChange(ch, secs, true);
        return;
      }
      setFormsBusy(false);
      showError(form, r);
    }).catch(function () {
      setFormsBusy(false);
      formError(form, 'The device did not answer. Reload the page to see whether the change was applied.');
    });
  }

  root.querySelectorAll('.lan-form').forEach(function (form) {
    var name = form.getAttribute('data-iface');
    var mode = form.querySelector('[name="mode"]');
    mode.addEventListener('change', function () {
      form.querySelectorAll('.static-only').forEach(function (e) { e.classList.toggle('d-none', mode.value !== 'static'); });
    });
    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      var body = { mode: mode.value };
      var mtu = form.querySelector('[name="mtu"]').value.trim();
      if (mtu !== '') body.mtu = /^\d+$/.test(mtu) ? parseInt(mtu, 10) : mtu;
      if (mode.value === 'static') {
        body.addresses = list(form.querySelector('[name="addresses"]').value);
        var gw = form.querySelector('[name="gateway"]').value.trim();
        if (gw !== '') body.gateway = gw;
        var dns = list(form.querySelector('[name="dns"]').value);
        if (dns.length) body.dns = dns;
      }
      submitChange(form, 'PUT', '/api/v1/interfaces/' + encodeURIComponent(name) + '/config', body);
    });
    form.querySelectorAll('[data-action]').forEach(function (b) {
      b.addEventListener('click', function () {
        var act = b.getAttribute('data-action');
        if (act === 'down' && !window.confirm('Take ' + name + ' down? Unless confirmed, it comes back up when the countdown ends.')) return;
        submitChange(form, 'POST', '/api/v1/interfaces/' + encodeURIComponent(name) + '/' + act);
      });
    });
  });
})();

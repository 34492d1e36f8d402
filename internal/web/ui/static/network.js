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
  var AGENT_DOWN = 'The device agent is not running: network information and changes are unavailable.';

  var request = function (method, url, body, timeout) {
    return window.devmgr.request(method, url, body, { csrf: csrf, timeout: timeout });
  };

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

  // --- changes: countdown, automatic confirmation, Confirm now (changes.js) ---
  var panel = document.getElementById('change-panel');
  var tracking = null;

  function startChange(ch, secondsToRollback, auto) {
    if (!panel) return;
    if (tracking) tracking.stop();
    setFormsBusy(true);
    tracking = window.devmgr.trackChange(panel, {
      id: ch.change_id, seconds: secondsToRollback, auto: auto, csrf: csrf,
      what: 'the settings of ' + ch.interface,
      url: '/api/v1/changes/' + encodeURIComponent(ch.change_id),
      unreachable: 'Trying to reach the device again…',
      onEnd: function () {
        tracking = null;
        setFormsBusy(false);
      }
    });
  }

  // A change pending when the page loaded (made elsewhere, or before a
  // reload) is watched, not confirmed by itself.
  if (panel && panel.getAttribute('data-change-id')) {
    startChange({ change_id: panel.getAttribute('data-change-id'), interface: panel.getAttribute('data-interface') },
      +panel.getAttribute('data-rollback-in') || 0, false);
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

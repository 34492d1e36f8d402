// The Access point page: live state and clients (polling /api/v1/ap and
// /api/v1/ap/clients every 2.5 s); for admins the settings form (applied at
// once, counted down and confirmed by this page once it reaches the device
// again, through changes.js), "Disconnect and block" per client and the
// blocked list. An external file: the CSP forbids inline script.
(function () {
  'use strict';
  var root = document.getElementById('ap');
  if (!root || !window.devmgr) return;
  var csrf = root.getAttribute('data-csrf') || '';
  var admin = root.hasAttribute('data-admin');
  var POLL_MS = 2500;
  var AGENT_DOWN = 'The device agent is not running: access point information and changes are unavailable.';
  var request = function (method, url, body, timeout) {
    return window.devmgr.request(method, url, body, { csrf: csrf, timeout: timeout });
  };
  var $ = function (id) { return document.getElementById(id); };

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function setText(e, text) { if (e && e.textContent !== text) e.textContent = text; }

  function bytes(n) {
    if (n < 1024) return n + ' B';
    var units = 'KMGTPE', i = -1;
    do { n /= 1024; i++; } while (n >= 1024 && i < units.length - 1);
    return n.toFixed(1) + ' ' + units[i] + 'iB';
  }
  function since(s) {
    var d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60), sec = s % 60;
    if (d) return d + 'd ' + h + 'h ' + m + 'm';
    if (h) return h + 'h ' + m + 'm';
    if (m) return m + 'm ' + sec + 's';
    return sec + 's';
  }
  function signalLabel(dbm) {
    if (!dbm) return 'unknown';
    if (dbm >= -55) return 'excellent';
    if (dbm >= -67) return 'good';
    if (dbm >= -75) return 'fair';
    return 'weak';
  }
  var SECURITY = { 'wpa2': 'WPA2-Personal', 'wpa3': 'WPA3-Personal (SAE)', 'wpa2-wpa3': 'WPA2/WPA3-Personal (transition)' };
  var BAND = { '2.4ghz': '2.4 GHz', '5ghz': '5 GHz' };

  // --- state ---
  function showState(info) {
    var st = info.status;
    var ok = st.running && !st.problem;
    var badge = $('ap-state');
    setText(badge, ok ? 'broadcasting' : st.running ? st.state : 'down');
    badge.className = 'ms-auto badge ' + (ok ? 'text-bg-success' : st.running ? 'text-bg-warning' : 'text-bg-danger');
    var prob = $('ap-problem');
    setText(prob, st.problem || '');
    prob.classList.toggle('d-none', !st.problem);
    var out = st.output || [];
    $('ap-output-box').classList.toggle('d-none', out.length === 0);
    setText($('ap-output'), out.length ? out.join('\n') + '\n' : '');
    setText($('ap-ssid'), st.ssid);
    setText($('ap-channel'), (st.channel ? String(st.channel) : 'automatic') + (st.frequency ? ' · ' + st.frequency + ' MHz' : '') + ' · ' + (BAND[st.band] || st.band));
    setText($('ap-security'), SECURITY[st.security] || st.security);
    setText($('ap-country'), st.country);
    setText($('ap-client-count'), String(st.clients));
    setText($('ap-isolate'), st.isolate ? 'clients cannot reach each other' : 'off');
    setText($('ap-hidden'), st.hidden ? 'yes' : 'no');
    setText($('ap-interface'), st.interface + (st.bssid ? ' · ' + st.bssid : ''));
    if (admin) showDenied(info.denied || []);
    if (st.pending && !tracking && !ended[st.pending.change_id]) track(st.pending, false);
    // After a rollback, the settings in force go back into the form.
    if (resetForm && form) { resetForm = false; fillForm(info.settings); }
  }

  // --- clients, updated in place by MAC so that buttons survive a refresh ---
  var tbody = document.querySelector('#ap-clients tbody');
  var empty = tbody.querySelector('.ap-empty');

  function clientRow(c) {
    var tr = el('tr');
    tr.setAttribute('data-mac', c.mac);
    [['mac', 'mono', 'MAC'], ['hostname', '', 'Hostname'], ['ip', 'mono', 'IP'], ['signal', '', 'Signal'],
      ['connected', '', 'Connected'], ['rx', '', 'Received'], ['tx', '', 'Sent']].forEach(function (f) {
      var td = el('td', f[1]);
      td.setAttribute('data-field', f[0]);
      td.setAttribute('data-label', f[2]);
      tr.appendChild(td);
    });
    if (admin) {
      var td = el('td', 'text-end ap-actions');
      var b = el('button', 'btn btn-sm btn-outline-danger text-nowrap', 'Disconnect and block');
      b.type = 'button';
      b.setAttribute('data-deny', c.mac);
      td.appendChild(b);
      tr.appendChild(td);
    }
    return tr;
  }

  function fillRow(tr, c) {
    var f = function (n) { return tr.querySelector('[data-field="' + n + '"]'); };
    setText(f('mac'), c.mac);
    setText(f('hostname'), c.hostname || '–');
    setText(f('ip'), c.ip || '–');
    var sig = f('signal');
    var want = c.signal ? c.signal + ' dBm ' + signalLabel(c.signal) : '–';
    if (sig.textContent.replace(/\s+/g, ' ').trim() !== want) {
      sig.replaceChildren();
      if (c.signal) {
        sig.appendChild(document.createTextNode(c.signal + ' dBm '));
        sig.appendChild(el('span', 'text-body-secondary small', signalLabel(c.signal)));
      } else {
        sig.textContent = '–';
      }
    }
    setText(f('connected'), since(c.connected_seconds));
    setText(f('rx'), bytes(c.rx_bytes));
    setText(f('tx'), bytes(c.tx_bytes));
  }

  function showClients(list) {
    var seen = {};
    list.forEach(function (c) {
      seen[c.mac] = true;
      var tr = tbody.querySelector('tr[data-mac="' + CSS.escape(c.mac) + '"]');
      if (!tr) {
        tr = clientRow(c);
        tbody.insertBefore(tr, empty);
      }
      fillRow(tr, c);
    });
    tbody.querySelectorAll('tr[data-mac]').forEach(function (tr) {
      if (!seen[tr.getAttribute('data-mac')]) tr.remove();
    });
    empty.classList.toggle('d-none', list.length > 0);
  }

  function clientsError(msg) {
    var e = $('ap-clients-error');
    setText(e, msg || '');
    e.classList.toggle('d-none', !msg);
  }

  function agentDown(msg) {
    var e = $('agent-down');
    if (!e) return;
    if (msg) e.textContent = msg;
    e.classList.toggle('d-none', !msg);
  }

  function poll() {
    request('GET', '/api/v1/ap', undefined, 5000).then(function (r) {
      if (r.status === 503 && !(r.body && r.body.error && r.body.error.indexOf('hostapd') >= 0)) {
        agentDown((r.body && r.body.error) || AGENT_DOWN);
        return;
      }
      if (r.status !== 200) return;
      agentDown('');
      if (!$('ap-ssid')) { window.location.reload(); return; } // the agent came back: draw the whole page
      showState(r.body);
      if (!r.body.status.running) {
        showClients([]);
        clientsError('');
        return;
      }
      return request('GET', '/api/v1/ap/clients', undefined, 5000).then(function (c) {
        if (c.status === 200 && Array.isArray(c.body)) {
          clientsError('');
          showClients(c.body);
        } else {
          clientsError((c.body && c.body.error) || ('The client list is unavailable (' + c.status + ').'));
        }
      });
    }).then(function () {
      root.setAttribute('data-polled', String((+root.getAttribute('data-polled') || 0) + 1));
    }).catch(function () { /* out of reach, e.g. while the WiFi changes: try again */ })
      .finally(function () { setTimeout(poll, POLL_MS); });
  }

  // --- pending change ---
  var panel = $('ap-change-panel');
  var tracking = null;
  var ended = {}; // change ids whose end this page has shown

  function track(ch, auto) {
    if (!panel) return;
    var secs = auto ? (new Date(ch.rollback_at) - new Date(ch.created_at)) / 1000 : (new Date(ch.rollback_at) - Date.now()) / 1000;
    if (!isFinite(secs) || secs < 0) secs = 0;
    if (!auto && panel.hasAttribute('data-rollback-in') && panel.getAttribute('data-change-id') === ch.change_id) {
      secs = +panel.getAttribute('data-rollback-in'); // the server's clock, not this browser's
    }
    setBusy(true);
    tracking = window.devmgr.trackChange(panel, {
      id: ch.change_id, seconds: secs, auto: auto, csrf: csrf,
      what: 'the access point settings',
      url: '/api/v1/ap/changes/' + encodeURIComponent(ch.change_id),
      onEnd: function (end) {
        ended[ch.change_id] = true;
        tracking = null;
        setBusy(false);
        if (end.status === 'rolled_back') resetForm = true;
      }
    });
  }

  // --- admin: settings form ---
  var form = $('ap-form');
  var resetForm = false;

  function setBusy(busy) {
    if (form) $('ap-apply').disabled = busy;
  }

  function clearErrors() {
    form.querySelectorAll('.is-invalid').forEach(function (e) { e.classList.remove('is-invalid'); });
    form.querySelectorAll('[data-error-for]').forEach(function (e) { e.textContent = ''; });
    var fe = $('ap-form-error');
    fe.textContent = '';
    fe.classList.add('d-none');
  }

  function formError(msg) {
    var fe = $('ap-form-error');
    fe.textContent = msg;
    fe.classList.remove('d-none');
  }

  function showError(r) {
    var b = r.body || {};
    var msg = b.error || ('The request failed (' + r.status + ').');
    if (r.status === 409) {
      formError(msg.indexOf('same') >= 0 ? 'Nothing to apply: these are the current settings.' : 'Another access point change is pending: confirm it or wait for its rollback. (' + msg + ')');
      return;
    }
    var input = b.field && form.querySelector('[name="' + CSS.escape(b.field) + '"]');
    if (input) {
      input.classList.add('is-invalid');
      var fb = form.querySelector('[data-error-for="' + CSS.escape(b.field) + '"]');
      if (fb) fb.textContent = msg;
      input.focus();
      return;
    }
    formError((b.field ? b.field + ': ' : '') + msg);
  }

  function syncChannels() {
    var band = form.querySelector('[name="band"]').value;
    var sel = form.querySelector('[name="channel"]');
    sel.querySelectorAll('option[data-band]').forEach(function (o) {
      var other = o.getAttribute('data-band') !== band;
      o.hidden = other;
      o.disabled = other;
    });
    if (sel.selectedOptions.length && sel.selectedOptions[0].disabled) sel.value = '0';
  }

  function fillForm(s) {
    form.querySelector('[name="ssid"]').value = s.ssid;
    form.querySelector('[name="passphrase"]').value = '';
    form.querySelector('[name="security"]').value = s.security;
    form.querySelector('[name="country"]').value = s.country;
    form.querySelector('[name="band"]').value = s.band;
    syncChannels();
    form.querySelector('[name="channel"]').value = String(s.channel);
    form.querySelector('[name="isolate"]').checked = s.isolate;
    form.querySelector('[name="hidden"]').checked = s.hidden;
  }

  if (form) {
    form.querySelector('[name="band"]').addEventListener('change', syncChannels);
    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      clearErrors();
      var v = function (n) { return form.querySelector('[name="' + n + '"]'); };
      var body = {
        ssid: v('ssid').value,
        security: v('security').value,
        band: v('band').value,
        channel: parseInt(v('channel').value, 10) || 0,
        country: v('country').value.trim().toUpperCase(),
        isolate: v('isolate').checked,
        hidden: v('hidden').checked
      };
      if (v('passphrase').value !== '') body.passphrase = v('passphrase').value;
      setBusy(true);
      request('PUT', '/api/v1/ap/settings', body, 20000).then(function (r) {
        if (r.status === 202 && r.body && r.body.change_id) {
          v('passphrase').value = '';
          track(r.body, true);
          return;
        }
        setBusy(false);
        showError(r);
      }).catch(function () {
        setBusy(false);
        formError('The device did not answer. Reload the page to see whether the change was applied.');
      });
    });
  }

  // --- admin: block and allow ---
  function actionStatus(kind, msg) {
    var e = $('ap-action-status');
    if (!e) return;
    e.className = 'alert m-3 alert-' + kind;
    e.textContent = msg;
  }

  function showDenied(list) {
    var ul = $('ap-denied');
    if (!ul) return;
    var emptyLi = ul.querySelector('.ap-denied-empty');
    var seen = {};
    list.forEach(function (mac) {
      seen[mac] = true;
      if (ul.querySelector('li[data-mac="' + CSS.escape(mac) + '"]')) return;
      var li = el('li', 'list-group-item d-flex align-items-center gap-2');
      li.setAttribute('data-mac', mac);
      li.appendChild(el('span', 'mono', mac));
      var b = el('button', 'btn btn-sm btn-outline-secondary ms-auto', 'Allow again');
      b.type = 'button';
      b.setAttribute('data-allow', mac);
      li.appendChild(b);
      ul.insertBefore(li, emptyLi);
    });
    ul.querySelectorAll('li[data-mac]').forEach(function (li) {
      if (!seen[li.getAttribute('data-mac')]) li.remove();
    });
    emptyLi.classList.toggle('d-none', list.length > 0);
  }

  if (admin) {
    root.addEventListener('click', function (ev) {
      var b = ev.target.closest('button[data-deny], button[data-allow]');
      if (!b) return;
      var deny = b.hasAttribute('data-deny');
      var mac = b.getAttribute(deny ? 'data-deny' : 'data-allow');
      b.disabled = true;
      var call = deny ? request('POST', '/api/v1/ap/deny', { mac: mac }, 10000)
        : request('DELETE', '/api/v1/ap/deny/' + encodeURIComponent(mac), undefined, 10000);
      call.then(function (r) {
        if (r.status === 200 && r.body) {
          showDenied(r.body.denied || []);
          if (deny) {
            var tr = tbody.querySelector('tr[data-mac="' + CSS.escape(mac) + '"]');
            if (tr) tr.remove();
            empty.classList.toggle('d-none', tbody.querySelectorAll('tr[data-mac]').length > 0);
            actionStatus('success', mac + ' was disconnected and is blocked until you allow it again.');
          } else {
            actionStatus('success', mac + ' may join again.');
          }
          return;
        }
        b.disabled = false;
        actionStatus('danger', (r.body && r.body.error) || ('The request failed (' + r.status + ').'));
      }).catch(function () {
        b.disabled = false;
        actionStatus('danger', 'The device did not answer.');
      });
    });
  }

  if (panel && panel.getAttribute('data-change-id')) {
    track({ change_id: panel.getAttribute('data-change-id') }, false);
  }
  poll();
})();

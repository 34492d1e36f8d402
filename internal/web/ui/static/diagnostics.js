// The Diagnostics page: ping and traceroute output streamed line by line
// (newline-delimited JSON from the console, relayed from the agent), DNS
// lookups, and refreshes of the neighbour and lease tables.
(function () {
  'use strict';
  var root = document.getElementById('diagnostics');
  if (!root) return;
  var csrf = root.getAttribute('data-csrf') || '';
  var agentDown = document.getElementById('agent-state');

  function headers(json) {
    var h = { 'Accept': 'application/json, application/x-ndjson', 'X-CSRF-Token': csrf };
    if (json) h['Content-Type'] = 'application/json';
    return h;
  }

  function clearErrors(form) {
    form.querySelectorAll('.is-invalid').forEach(function (e) { e.classList.remove('is-invalid'); });
    form.querySelectorAll('[data-error-for]').forEach(function (e) { e.textContent = ''; });
  }

  function showError(form, status, res, body) {
    if (res && res.status === 401) { window.location.assign('/login'); return; }
    var msg = (body && body.error) || ('The request failed (' + (res ? res.status : 'no answer') + ').');
    var input = body && body.field && form.querySelector('[name="' + CSS.escape(body.field) + '"]');
    if (input) {
      input.classList.add('is-invalid');
      form.querySelector('[data-error-for="' + CSS.escape(body.field) + '"]').textContent = msg;
      status.textContent = '';
      return;
    }
    if (res && res.status === 503 && agentDown) {
      agentDown.textContent = msg;
      agentDown.classList.remove('d-none');
    }
    status.className = 'diag-status small mt-2 text-danger';
    status.textContent = msg;
  }

  function num(form, name) {
    var v = form.querySelector('[name="' + name + '"]').value.trim();
    if (v === '') return undefined;
    return /^\d+$/.test(v) ? parseInt(v, 10) : v;
  }

  // stream posts body and calls onEvent for each event of the answer as it arrives.
  function stream(url, body, form, status, out) {
    var btn = form.querySelector('button[type="submit"]');
    btn.disabled = true;
    clearErrors(form);
    out.textContent = '';
    out.classList.add('d-none');
    status.className = 'diag-status small mt-2 text-body-secondary';
    status.textContent = 'Running…';
    fetch(url, { method: 'POST', headers: headers(true), body: JSON.stringify(body), cache: 'no-store', credentials: 'same-origin' })
      .then(function (res) {
        var ct = res.headers.get('Content-Type') || '';
        if (!res.ok || ct.indexOf('application/x-ndjson') !== 0) {
          return res.json().catch(function () { return null; }).then(function (b) { showError(form, status, res, b); });
        }
        out.classList.remove('d-none');
        var reader = res.body.getReader();
        var dec = new TextDecoder();
        var buf = '';
        function handle(line) {
          if (!line) return;
          var ev;
          try { ev = JSON.parse(line); } catch (e) { return; }
          if (ev.type === 'line') {
            var atEnd = out.scrollTop + out.clientHeight >= out.scrollHeight - 4;
            out.appendChild(document.createTextNode((ev.text || '') + '\n'));
            if (atEnd) out.scrollTop = out.scrollHeight;
            status.textContent = 'Running… ' + out.childNodes.length + ' lines';
          } else if (ev.type === 'done') {
            status.className = 'diag-status small mt-2 ' + (ev.exit_code === 0 ? 'text-success' : 'text-warning');
            status.textContent = 'Finished with exit code ' + ev.exit_code + ' in ' + (ev.duration_ms / 1000).toFixed(1) + ' s.';
            status.setAttribute('data-done', 'true');
          } else if (ev.type === 'error') {
            status.className = 'diag-status small mt-2 text-danger';
            status.textContent = 'Stopped: ' + ev.error;
            status.setAttribute('data-done', 'true');
          }
        }
        function pump() {
          return reader.read().then(function (r) {
            if (r.done) { handle(buf); return; }
            buf += dec.decode(r.value, { stream: true });
            var parts = buf.split('\n');
            buf = parts.pop();
            parts.forEach(handle);
            return pump();
          });
        }
        return pump();
      })
      .catch(function () {
        status.className = 'diag-status small mt-2 text-danger';
        status.textContent = 'The connection to the device was lost.';
      })
      .finally(function () { btn.disabled = false; });
  }

  function td(text, cls) {
    var e = document.createElement('td');
    e.textContent = text;
    if (cls) e.className = cls;
    return e;
  }

  function dns(form) {
    var status = document.getElementById('dns-status');
    var result = document.getElementById('dns-result');
    var tbody = document.getElementById('dns-answers');
    var btn = form.querySelector('button[type="submit"]');
    clearErrors(form);
    btn.disabled = true;
    result.classList.add('d-none');
    status.className = 'diag-status small mt-2 text-body-secondary';
    status.textContent = 'Looking up…';
    var body = { name: form.querySelector('[name="name"]').value.trim(), type: form.querySelector('[name="type"]').value };
    var server = form.querySelector('[name="server"]').value.trim();
    if (server) body.server = server;
    fetch('/api/v1/diag/dns', { method: 'POST', headers: headers(true), body: JSON.stringify(body), cache: 'no-store', credentials: 'same-origin' })
      .then(function (res) {
        return res.json().catch(function () { return null; }).then(function (b) {
          if (!res.ok) { showError(form, status, res, b); return; }
          tbody.replaceChildren();
          (b.answers || []).forEach(function (a) {
            var tr = document.createElement('tr');
            tr.append(td(a.name, 'mono'), td(a.type), td(String(a.ttl)), td(a.value, 'mono'));
            tbody.appendChild(tr);
          });
          result.classList.toggle('d-none', !(b.answers && b.answers.length));
          var what = b.error ? 'No answer: ' + b.error : (b.rcode || 'NOERROR') + ', ' + (b.answers || []).length + ' answers';
          status.className = 'diag-status small mt-2 ' + (b.error || b.rcode !== 'NOERROR' ? 'text-warning' : 'text-success');
          status.textContent = what + ' from ' + b.server + ' in ' + b.duration_ms + ' ms.';
        });
      })
      .catch(function () {
        status.className = 'diag-status small mt-2 text-danger';
        status.textContent = 'The connection to the device was lost.';
      })
      .finally(function () { btn.disabled = false; });
  }

  root.querySelectorAll('.diag-form').forEach(function (form) {
    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      var tool = form.getAttribute('data-tool');
      var status = document.getElementById(tool + '-status');
      var out = document.getElementById(tool + '-output');
      var host = form.querySelector('[name="host"]');
      if (tool === 'ping') {
        stream('/api/v1/diag/ping', { host: host.value.trim(), count: num(form, 'count') }, form, status, out);
      } else if (tool === 'traceroute') {
        stream('/api/v1/diag/traceroute', { host: host.value.trim(), max_hops: num(form, 'max_hops') }, form, status, out);
      } else if (tool === 'dns') {
        dns(form);
      }
    });
  });

  function fmtTime(s) {
    if (!s || s.indexOf('0001-') === 0) return 'never';
    return new Date(s).toISOString().replace('T', ' ').replace(/\.\d+Z$/, '');
  }

  var tables = {
    neighbors: { url: '/api/v1/diag/neighbors', empty: 'No neighbours.', row: function (n) {
      var state = td(n.state);
      if (n.router) { var b = document.createElement('span'); b.className = 'badge text-bg-info ms-1'; b.textContent = 'router'; state.appendChild(b); }
      return [td(n.ip, 'mono'), td(n.mac || '–', 'mono'), td(n.interface, 'mono'), state];
    } },
    leases: { url: '/api/v1/dhcp/leases', empty: 'No leases.', row: function (l) {
      return [td(l.ip, 'mono'), td(l.mac || '–', 'mono'), td(l.hostname || '–'), td(fmtTime(l.expiry), 'nowrap')];
    } }
  };
  root.querySelectorAll('[data-refresh]').forEach(function (btn) {
    btn.addEventListener('click', function () {
      var t = tables[btn.getAttribute('data-refresh')];
      var tbody = document.querySelector('#' + btn.getAttribute('data-refresh') + ' tbody');
      btn.disabled = true;
      fetch(t.url, { headers: headers(false), cache: 'no-store', credentials: 'same-origin' })
        .then(function (res) {
          if (res.status === 401) { window.location.assign('/login'); return; }
          return res.json().then(function (b) {
            tbody.replaceChildren();
            if (!res.ok) {
              var tr = document.createElement('tr');
              var c = td(b.error || 'The request failed.', 'text-danger');
              c.colSpan = 4;
              tr.appendChild(c);
              tbody.appendChild(tr);
              return;
            }
            if (!b.length) {
              var er = document.createElement('tr');
              var ec = td(t.empty, 'text-body-secondary');
              ec.colSpan = 4;
              er.appendChild(ec);
              tbody.appendChild(er);
            }
            b.forEach(function (x) {
              var tr = document.createElement('tr');
              t.row(x).forEach(function (c) { tr.appendChild(c); });
              tbody.appendChild(tr);
            });
          });
        })
        .catch(function () {})
        .finally(function () { btn.disabled = false; });
    });
  });
})();

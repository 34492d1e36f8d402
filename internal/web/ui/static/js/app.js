// Every page: confirmations, the session's end, byte counters, and the
// change tracker. Pages are rendered on the server; htmx swaps their parts.
import { request, noteSession, onSession, signedOut } from './request.js';
import './change.js';

// A form with data-confirm asks first (forms without htmx; htmx has hx-confirm).
document.addEventListener('submit', (ev) => {
  const msg = ev.target.dataset.confirm;
  if (msg && !window.confirm(msg)) ev.preventDefault();
});

// Every htmx answer says when the session ends; a 401 means it has.
document.addEventListener('htmx:afterRequest', (ev) => {
  const xhr = ev.detail.xhr;
  if (!xhr) return;
  noteSession(xhr.getResponseHeader('X-Devmgr-Session-Left'));
  if (xhr.status === 401) signedOut();
});

// A polled part with a [data-offline] note shows it while the console
// cannot be reached (a factory reset restarts it); its next answer replaces it.
const offline = (ev) => ev.detail.elt.querySelector?.(':scope > [data-offline]')?.classList.remove('d-none');
['htmx:sendError', 'htmx:responseError', 'htmx:timeout'].forEach((e) => document.addEventListener(e, offline));

// A minute before the idle timeout the page offers to stay signed in;
// at the timeout it goes to the login form, to come back here.
const warning = document.getElementById('session-warning');
let timer = null;
onSession((endsAt) => {
  clearInterval(timer);
  warning?.classList.add('d-none');
  timer = setInterval(() => {
    const left = Math.ceil((endsAt - performance.now()) / 1000);
    if (left <= 0) {
      clearInterval(timer);
      signedOut();
    } else if (left <= 60 && warning) {
      warning.querySelector('[data-left]').textContent = left;
      warning.classList.remove('d-none');
    }
  }, 1000);
});
document.getElementById('stay-signed-in')?.addEventListener('click', () => {
  request('POST', '/session/renew').catch(() => {});
});
noteSession(document.body.dataset.sessionLeft);

// <input data-max-bytes="32" data-count="ID">: the element ID shows the
// bytes typed (UTF-8, as the server counts them); over the limit the
// input is marked, and the server's message says why when it is sent.
const encoder = new TextEncoder();
function count(input) {
  const out = document.getElementById(input.dataset.count);
  if (!out) return;
  const n = encoder.encode(input.value).length;
  const max = Number(input.dataset.maxBytes);
  out.textContent = `${n} of ${max} bytes`;
  out.classList.toggle('text-danger', n > max);
}
document.addEventListener('input', (ev) => {
  if (ev.target.dataset?.maxBytes) count(ev.target);
});
document.addEventListener('htmx:load', (ev) => {
  ev.detail.elt.querySelectorAll?.('[data-max-bytes]').forEach(count);
});

// The one way the console's scripts talk to the server, and what they learn
// from every answer: when the session ends, and that it has ended.

// Background requests (polls, probes) do not count as the user's activity:
// an open page does not keep an idle session alive.
export const BACKGROUND = { 'X-Devmgr-Background': '1' };

let endsAt = Infinity; // performance.now() when the session ends unless the user acts
const listeners = [];

// noteSession takes the server's X-Devmgr-Session-Left (milliseconds).
export function noteSession(left) {
  if (left === null || left === undefined || left === '' || isNaN(+left)) return;
  endsAt = performance.now() + Number(left);
  listeners.forEach((f) => f(endsAt));
}

export function onSession(f) {
  listeners.push(f);
}

// signedOut sends the browser to the login form, to come back here.
export function signedOut() {
  const next = location.pathname + location.search;
  location.assign('/login?expired=1&next=' + encodeURIComponent(next));
}

// request does a JSON call. It resolves {status, ok, body} (body: the
// decoded JSON, or {error: text}); with raw it resolves the Response
// unread, for streams. headers are added (Accept, Last-Event-ID). It
// rejects only when the server cannot be reached or the timeout passes.
export async function request(method, url, { body, timeout = 5000, background = false, raw = false, signal, headers: extra } = {}) {
  const headers = { Accept: 'application/json', ...(background ? BACKGROUND : {}), ...extra };
  if (method !== 'GET') headers['X-CSRF-Token'] = document.body.dataset.csrf || '';
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const signals = [AbortSignal.timeout(timeout), signal].filter(Boolean);
  const res = await fetch(url, {
    method, headers, cache: 'no-store', credentials: 'same-origin',
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.any(signals),
  });
  noteSession(res.headers.get('X-Devmgr-Session-Left'));
  if (res.status === 401) signedOut();
  if (raw) return res;
  const text = await res.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = { error: text };
  }
  return { status: res.status, ok: res.ok, body: data };
}

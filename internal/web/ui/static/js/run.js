// A command's run (template run-panel): its output as the command writes
// it, from the agent's event stream (resumed after the last line when it
// breaks), a cancel button, a copy button, and the server's end panel
// once the run has ended. Fetch, not EventSource: it sends the
// background header, so following a run does not keep a session alive.
import { request, BACKGROUND } from './request.js';

const RUN_MS = 11 * 60 * 1000; // longer than any command may run
const RETRIES = 5;

// parse reads one event of a text/event-stream.
function parse(block) {
  const ev = { data: [] };
  for (const line of block.split('\n')) {
    if (line.startsWith(':')) continue;
    const [field, ...rest] = line.split(':');
    const value = rest.join(':').replace(/^ /, '');
    if (field === 'data') ev.data.push(value);
    else ev[field] = value;
  }
  return ev;
}

// stream reads the events after line last; it resolves true at the end.
async function stream(panel, out, last) {
  const headers = { Accept: 'text/event-stream', ...(last.id ? { 'Last-Event-ID': String(last.id) } : {}) };
  const res = await request('GET', panel.dataset.events, { raw: true, background: true, timeout: RUN_MS, headers });
  if (!res.ok) return true; // gone, or not the caller's: the end panel says so
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return false;
    buf += value;
    for (let i; (i = buf.indexOf('\n\n')) >= 0; buf = buf.slice(i + 2)) {
      const ev = parse(buf.slice(0, i));
      if (ev.event === 'end') return true;
      if (ev.event !== 'line') continue;
      last.id = Number(ev.id);
      out.append(ev.data.join('\n') + '\n');
      out.scrollTop = out.scrollHeight;
    }
  }
}

async function follow(panel, out) {
  const last = { id: 0 };
  for (let tries = 0; tries < RETRIES; tries++) {
    try {
      if (await stream(panel, out, last)) break;
    } catch { /* the stream broke: resume after the last line */ }
    await new Promise((r) => setTimeout(r, 500 * (tries + 1)));
  }
  panel.querySelector('[data-cancel]')?.remove();
  htmx.ajax('GET', panel.dataset.endUrl, { target: panel.querySelector('[data-end]'), swap: 'outerHTML', headers: BACKGROUND });
}

function wire(panel) {
  if (panel.dataset.wired) return;
  panel.dataset.wired = '1';
  const out = panel.querySelector('[data-output]');
  panel.querySelector('[data-copy]')?.addEventListener('click', (ev) => {
    navigator.clipboard.writeText(out.textContent).then(() => { ev.target.textContent = 'Copied'; }, () => {});
  });
  panel.querySelector('[data-cancel]')?.addEventListener('click', (ev) => {
    ev.target.disabled = true;
    request('POST', panel.dataset.cancelUrl).catch(() => { ev.target.disabled = false; });
  });
  if (panel.dataset.events) follow(panel, out);
}

const scan = (root) => [root, ...(root.querySelectorAll?.('[data-run]') ?? [])].forEach((e) => e.matches?.('[data-run]') && wire(e));
document.addEventListener('htmx:load', (ev) => scan(ev.detail.elt));
scan(document.body);

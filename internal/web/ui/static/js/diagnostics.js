// Diagnostics: ping and traceroute show their output as it comes. Each
// form (data-stream) posts to the agent's route through the console's proxy
// and reads the NDJSON events as they arrive; a refusal marks the fields the
// agent names. The rest of the page is rendered on the server (htmx).
import { request } from './request.js';

const STREAM_MS = 180000; // the console's write deadline of a stream

function status(form, text, tone) {
  const el = form.querySelector('.diag-status');
  el.textContent = text;
  el.className = `diag-status small mt-2 text-${tone}`;
  return el;
}

// refuse shows the agent's refusal beside each field it names, or below.
function refuse(form, body, code) {
  const problems = body?.fields?.length ? body.fields : [{ field: body?.field, error: body?.error }];
  let rest = '';
  for (const p of problems) {
    const input = p.field ? form.elements.namedItem(p.field) : null;
    if (input) {
      input.classList.add('is-invalid');
      input.parentElement.querySelector('.invalid-feedback').textContent = p.error;
    } else {
      rest = p.error || `The device refused the request (${code}).`;
    }
  }
  status(form, rest, 'danger-emphasis');
}

// show puts one event of the stream on the page.
function show(form, out, ev) {
  if (ev.type === 'line') {
    const atEnd = out.scrollTop + out.clientHeight >= out.scrollHeight - 4;
    out.append(`${ev.text ?? ''}\n`);
    if (atEnd) out.scrollTop = out.scrollHeight;
  } else if (ev.type === 'done') {
    const secs = ((ev.duration_ms ?? 0) / 1000).toFixed(1);
    status(form, `Finished with exit code ${ev.exit_code} in ${secs} s.`, ev.exit_code === 0 ? 'success-emphasis' : 'warning-emphasis').dataset.done = 'true';
  } else if (ev.type === 'error') {
    status(form, `Stopped: ${ev.error}`, 'danger-emphasis').dataset.done = 'true';
  }
}

// events calls f with each event of an NDJSON body as it arrives.
async function events(body, f) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    const lines = (buf + value).split('\n');
    buf = lines.pop();
    lines.filter((l) => l.trim()).forEach((l) => f(JSON.parse(l)));
  }
  if (buf.trim()) f(JSON.parse(buf));
}

// typed is an input's value for the request: a number field's as a whole
// number, or as the text typed for the agent to refuse; empty, left out.
function typed(input) {
  const v = input.value.trim();
  if (input.dataset.number === undefined) return v;
  if (v === '') return undefined;
  return /^-?\d+$/.test(v) ? Number(v) : v;
}

async function run(form) {
  const out = form.querySelector('.diag-output');
  const button = form.querySelector('button[type="submit"]');
  const body = {};
  form.querySelectorAll('input[name]').forEach((input) => { body[input.name] = typed(input); });
  form.querySelectorAll('.is-invalid').forEach((e) => e.classList.remove('is-invalid'));
  out.replaceChildren();
  out.classList.add('d-none');
  button.disabled = true;
  status(form, 'Running…', 'body-secondary');
  try {
    const res = await request('POST', form.dataset.stream, { body, raw: true, timeout: STREAM_MS });
    if (!res.ok || !res.headers.get('Content-Type')?.startsWith('application/x-ndjson')) {
      refuse(form, await res.json().catch(() => null), res.status);
      return;
    }
    out.classList.remove('d-none');
    await events(res.body, (ev) => show(form, out, ev));
  } catch {
    status(form, 'The connection to the device was lost.', 'danger-emphasis');
  } finally {
    button.disabled = false;
  }
}

// The buttons come disabled: a form sent before this script runs would
// only reload the page.
document.querySelectorAll('form[data-stream]').forEach((form) => {
  form.addEventListener('submit', (ev) => { ev.preventDefault(); run(form); });
  form.querySelector('button[type="submit"]').disabled = false;
  form.dataset.ready = 'true';
});

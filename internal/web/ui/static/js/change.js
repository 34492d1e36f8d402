// A change the device undoes unless confirmed (Network, Access point).
// The server renders the panel (#change-panel) in every state; this script
// only does what the browser alone can: count down, confirm as soon as the
// browser reaches the device again after a change it made (the change did
// not cut it off), and ask for the panel again once the change has ended.
import { request } from './request.js';

const HOLDOFF_MS = 3000; // let the device settle before the first probe
const PROBE_MS = 1000;
let tracked = null;

// lock disables the forms that would start another change meanwhile.
function lock(busy) {
  document.querySelectorAll('[data-change-lock]').forEach((f) => { f.disabled = busy; });
}

function track(panel) {
  if (tracked?.panel === panel) return;
  tracked?.stop();
  tracked = null;
  lock(false);
  if (!panel || panel.dataset.seconds === undefined) return;
  const { url, panel: panelURL } = panel.dataset;
  const deadline = performance.now() + Number(panel.dataset.seconds) * 1000;
  const text = (id, t) => { const e = document.getElementById(id); if (e) e.textContent = t; };
  let done = false;

  const tick = setInterval(() => {
    const s = Math.max(0, Math.ceil((deadline - performance.now()) / 1000));
    text('change-countdown', `${s} s`);
    if (s === 0) text('change-detail', 'Not confirmed in time: the device is restoring the previous settings…');
  }, 250);
  const stop = () => { done = true; clearInterval(tick); };
  // end asks the server for the panel of the ended change.
  const end = () => {
    if (done) return;
    stop();
    htmx.ajax('GET', panelURL, { target: '#change-panel', swap: 'outerHTML', headers: { 'X-Devmgr-Background': '1' } });
  };
  const again = (f) => { if (!done) setTimeout(f, PROBE_MS); };

  async function confirm(auto) {
    const button = document.getElementById('confirm-now');
    if (button) button.disabled = true;
    try {
      const r = await request('POST', `${url}/confirm`, { timeout: 4000 });
      if (r.ok || r.status === 404 || r.status === 409) return end();
      text('change-detail', r.body?.error || `Confirming failed (${r.status}).`);
    } catch {
      text('change-detail', 'The device did not answer; trying again…');
    }
    if (button) button.disabled = false;
    if (auto) again(probe);
  }
  // probe: reaching the device proves the change did not cut this browser off.
  async function probe() {
    if (done) return;
    try {
      const r = await request('GET', url, { timeout: 2000, background: true });
      if (r.ok && r.body.status === 'pending') return confirm(true);
      if (r.ok) return end();
    } catch {
      text('change-detail', 'Trying to reach the device again… (after a WiFi change, join the network with its new settings)');
    }
    again(probe);
  }
  // watch: a change made elsewhere ends by itself or by the button.
  async function watch() {
    if (done) return;
    try {
      const r = await request('GET', url, { timeout: 2000, background: true });
      if (r.ok && r.body.status !== 'pending') return end();
    } catch { /* out of reach: try again */ }
    setTimeout(watch, 2000);
  }

  document.getElementById('confirm-now')?.addEventListener('click', () => confirm(false));
  lock(true);
  if (panel.dataset.auto) {
    panel.scrollIntoView({ block: 'center', behavior: 'smooth' });
    panel.focus({ preventScroll: true });
    setTimeout(probe, HOLDOFF_MS);
  } else {
    watch();
  }
  tracked = { panel, stop };
}

document.addEventListener('htmx:load', () => track(document.getElementById('change-panel')));
track(document.getElementById('change-panel'));

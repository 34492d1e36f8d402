// Follow the system's light/dark preference with Bootstrap 5.3 colour modes.
// A classic script in <head>, so the page never paints in the wrong mode.
{
  const q = window.matchMedia('(prefers-color-scheme: dark)');
  const apply = () => document.documentElement.setAttribute('data-bs-theme', q.matches ? 'dark' : 'light');
  apply();
  q.addEventListener('change', apply);
}

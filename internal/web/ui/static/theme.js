// Follow the system's light/dark preference with Bootstrap 5.3 colour modes.
// Loaded as an external file from <head> (the CSP forbids inline script).
(function () {
  var q = window.matchMedia('(prefers-color-scheme: dark)');
  function apply() {
    document.documentElement.setAttribute('data-bs-theme', q.matches ? 'dark' : 'light');
  }
  apply();
  if (q.addEventListener) q.addEventListener('change', apply);
})();

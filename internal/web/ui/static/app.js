// Small behaviours that would otherwise need inline script (forbidden by the CSP).
document.addEventListener('submit', function (ev) {
  var msg = ev.target.getAttribute('data-confirm');
  if (msg && !window.confirm(msg)) ev.preventDefault();
});
// A session that ended while a fragment was polling sends the page to the login form.
document.addEventListener('htmx:responseError', function (ev) {
  var xhr = ev.detail.xhr;
  if (xhr && xhr.status === 401) window.location.assign('/login');
});

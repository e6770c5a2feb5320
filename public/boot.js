// Says so plainly when the app cannot start (its WebAssembly blocked, missing or refused):
// the loader fails, or nothing has mounted after a generous wait. Nothing can have been sent
// then, since only the app encrypts and uploads. Plain script, no module, no dependencies.
(function () {
  'use strict';
  function failed() {
    if (document.documentElement.getAttribute('data-app') === 'ready') return;
    var loading = document.getElementById('boot-loading');
    var failure = document.getElementById('boot-failed');
    if (!loading || !failure) return;
    loading.hidden = true;
    failure.hidden = false;
  }
  // Failed loads of the module or the .wasm (captured: they do not bubble), the loader's
  // rejected promise, and the loader's own word (initializer.js).
  window.addEventListener('error', failed, true);
  window.addEventListener('unhandledrejection', failed);
  window.addEventListener('postsiegel-boot-failed', failed);
  window.setTimeout(failed, 30000);

  // A trap in the running app (a WebAssembly.RuntimeError: seen in WebKit) leaves it unable
  // to go on or to say so itself; this notice, outside the app's part of the page, does.
  function crashed(event) {
    if (document.documentElement.getAttribute('data-app') !== 'ready') return;
    if (typeof WebAssembly === 'undefined' || !(event.error instanceof WebAssembly.RuntimeError)) return;
    var notice = document.getElementById('app-crashed');
    if (!notice || !notice.hidden) return;
    notice.hidden = false;
    notice.focus();
  }
  window.addEventListener('error', crashed);
})();

// Trunk's hooks into the app's start (data-initializer in index.html). A failed start
// tells boot.js at once: WebKit reports the loader's rejected top-level await neither as an
// error nor as an unhandled rejection, so without this Safari showed the failure notice
// only after boot.js's 30 s wait.
export default function initializer() {
  return {
    onFailure: () => window.dispatchEvent(new Event('postsiegel-boot-failed')),
  };
}

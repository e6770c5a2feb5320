// Trunk's hooks into the app's start (data-initializer in index.html).
export default function initializer() {
  return {
    // A failed start tells boot.js at once: WebKit reports the loader's rejected top-level
    // await neither as an error nor as an unhandled rejection, so without this Safari showed
    // the failure notice only after boot.js's 30 s wait.
    onFailure: () => window.dispatchEvent(new Event('postsiegel-boot-failed')),
    // The size of the app's WebAssembly memory (never its contents), which the browser
    // benchmark reads in every engine: what sending leaves behind there.
    onSuccess: (wasm) => {
      window.postsiegelWasmBytes = () => wasm.memory.buffer.byteLength;
    },
  };
}

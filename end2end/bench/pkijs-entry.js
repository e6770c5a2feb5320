// PKI.js as one ES module for the benchmark page (esbuild bundles it with its dependencies).
export * from 'pkijs';

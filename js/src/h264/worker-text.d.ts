// `import text from 'worker-text:./worker.js'`: js/build.mjs bundles the named module on its own (an IIFE
// for a classic Worker) and inlines the result as this string.
declare module 'worker-text:*' {
  const source: string;
  export default source;
}

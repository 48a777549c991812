// Where the worker's runtime files are (pyodide/, litert/, ort/, models/, warp.wasm): beside
// this module, at the root of the site or of the npm package. The site build puts the worker's
// modules in one file at that root (build_site.bundle_worker), where a module's own
// import.meta.url no longer names the folder it was written in; this one's names the root
// either way.

/** The absolute URL of `path`, relative to the runtime's root. */
export const runtimeFile = (path) => new URL(path, import.meta.url).href;

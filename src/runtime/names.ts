/**
 * Names the CLI declares in its help (backends, runtimes), in a module that loads nothing else, so
 * that `ftk --help` does not load TF.js or ONNX Runtime to print them.
 */

/** TF.js backends ('webgpu' runs on a GPU chosen by `--device`). */
export type BackendName = 'tensorflow-gpu' | 'tensorflow' | 'wasm' | 'cpu' | 'webgpu';
export const BACKEND_NAMES: readonly BackendName[] = ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu', 'webgpu'];
/** What `--backend auto` tries, in order (a GPU backend comes from `--device`, not from here). */
export const AUTO_BACKENDS: readonly BackendName[] = ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'];

/** What runs a backbone: ONNX Runtime or TF.js. */
export type RuntimeName = 'onnx' | 'tfjs';
export const RUNTIME_NAMES: readonly RuntimeName[] = ['onnx', 'tfjs'];

/**
 * Backend selection: the one place in ftk that touches tfjs' global engine.
 *
 * Order of preference (first that loads wins): tfjs-node-gpu, tfjs-node (both optional: their
 * install downloads libtensorflow, so they are never in `dependencies`), wasm, cpu. 'webgpu'
 * (TF.js' WebGPU backend on Google's Dawn through the `webgpu` npm package) is used when asked
 * for, which `--device webgpu|gpu|cuda` does for training (`backendForDevice`); it is loaded
 * only then (the `webgpu` package is imported lazily, `ftk --help` never loads it).
 * A preference that cannot be honoured is an error, never a silent fallback; the automatic
 * choice is reported once through `onNotice`.
 */
import * as tf from '@tensorflow/tfjs';
import { RuntimeError } from '../errors.js';

import { BACKEND_PACKAGE, packageVersion } from './backend_probe.js';
import { AUTO_BACKENDS, BACKEND_NAMES, type BackendName } from './names.js';

export { BACKEND_NAMES, type BackendName };
/**
 * What 'auto' tries, in order. Not 'webgpu': a GPU is chosen by `--device` (src/runtime/device.ts,
 * which also knows a software adapter from a real one), and `backendForDevice` maps it here.
 */
const AUTO_CANDIDATES: readonly BackendName[] = AUTO_BACKENDS;

export interface BackendInfo {
  /** What ftk calls it (the `--backend` value). */
  name: BackendName;
  /** What tfjs calls it (`tf.getBackend()`). */
  tfBackend: string;
  /** Versions of tfjs and the backend package. */
  versions: Record<string, string>;
  /** Threads the backend computes with (1 for wasm in Node: tfjs disables wasm threads there). */
  threads: number;
  /** Why this backend: 'requested' or the reason of the automatic choice. */
  reason: string;
}

export interface SelectBackendOptions {
  /** Backend to use; 'auto' picks the fastest that loads. Default 'auto'. */
  backend?: BackendName | 'auto';
  /** Told once which backend was chosen automatically, and why. */
  onNotice?: (message: string) => void;
}

async function tryLoad(name: BackendName): Promise<string | undefined> {
  switch (name) {
    case 'tensorflow-gpu':
      await import('@tensorflow/tfjs-node-gpu' as string);
      return 'tensorflow';
    case 'tensorflow':
      await import('@tensorflow/tfjs-node' as string);
      return 'tensorflow';
    case 'wasm':
      await import('@tensorflow/tfjs-backend-wasm');
      return 'wasm';
    case 'cpu':
      return 'cpu';
    case 'webgpu':
      await installWebGpuGlobals();
      await import('@tensorflow/tfjs-backend-webgpu');
      return 'webgpu';
  }
}

/**
 * TF.js' WebGPU backend finds the GPU at `navigator.gpu` (a browser API). In Node the `webgpu`
 * package provides it: its constants (GPUBufferUsage, ...) go on globalThis and `navigator.gpu`
 * is its Dawn instance. Done once, only when the webgpu backend is requested.
 */
async function installWebGpuGlobals(): Promise<void> {
  const g = globalThis as { navigator?: { gpu?: unknown } };
  if (g.navigator?.gpu) return;
  const { create, globals } = (await import('webgpu')) as unknown as { create: (flags: string[]) => unknown; globals: Record<string, unknown> };
  for (const [k, v] of Object.entries(globals)) if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
  const gpu = create([]);
  // Node 21+ defines a read-only `navigator` getter: replace it with a copy that has `gpu`.
  const current = g.navigator ?? {};
  Object.defineProperty(globalThis, 'navigator', { value: Object.assign(Object.create(Object.getPrototypeOf(current)), current, { gpu }), configurable: true, writable: true });
}

/**
 * The TF.js backend that trains on a device: the CPU's automatic choice ('auto') for 'cpu';
 * 'webgpu' for WebGPU; for CUDA tfjs-node-gpu when installed, else WebGPU (`hasWebGpuAdapter`
 * says whether there is an adapter to run it on).
 */
export function backendForDevice(provider: 'cpu' | 'webgpu' | 'cuda', hasWebGpuAdapter: boolean): BackendName | 'auto' {
  if (provider === 'cpu') return 'auto';
  if (provider === 'webgpu') return 'webgpu';
  if (packageVersion('@tensorflow/tfjs-node-gpu')) return 'tensorflow-gpu';
  if (hasWebGpuAdapter) return 'webgpu';
  throw new RuntimeError('--device cuda: ONNX Runtime runs on CUDA, but training needs @tensorflow/tfjs-node-gpu (not installed) or a WebGPU adapter (none found).', {
    code: 'DEVICE_UNAVAILABLE',
    suggestion: 'Install a Vulkan driver for the GPU (NVIDIA: the proprietary driver with its Vulkan ICD) so training runs on TF.js WebGPU, or `npm install @tensorflow/tfjs-node-gpu` (CUDA 11.2 / cuDNN 8.1), or use --device cpu.',
  });
}


let active: BackendInfo | undefined;

/** Chooses and initialises the tfjs backend. Idempotent for the same choice. */
export async function selectBackend(options: SelectBackendOptions = {}): Promise<BackendInfo> {
  const wanted = options.backend ?? 'auto';
  if (active && (wanted === 'auto' || wanted === active.name)) return active;
  if (wanted !== 'auto' && !BACKEND_NAMES.includes(wanted)) {
    throw new RuntimeError(`Unknown backend "${wanted}".`, {
      code: 'BACKEND_UNKNOWN',
      suggestion: `Use one of: auto, ${BACKEND_NAMES.join(', ')}.`,
    });
  }
  const candidates = wanted === 'auto' ? AUTO_CANDIDATES : [wanted];
  const failures: string[] = [];
  for (const name of candidates) {
    let tfName: string | undefined;
    try {
      tfName = await tryLoad(name);
      if (!tfName || !(await tf.setBackend(tfName))) throw new Error('tf.setBackend returned false');
      await tf.ready();
    } catch (err) {
      failures.push(`${name}: ${(err as Error).message.split('\n')[0]}`);
      continue;
    }
    const pkg = BACKEND_PACKAGE[name];
    const versions: Record<string, string> = { tfjs: tf.version_core };
    const v = packageVersion(pkg);
    if (v) versions[pkg] = v;
    if (name === 'webgpu') versions.webgpu = packageVersion('webgpu') ?? '?';
    const threads = name === 'wasm' ? 1 : name === 'cpu' ? 1 : (await import('node:os')).availableParallelism();
    const reason =
      wanted === 'auto'
        ? failures.length
          ? `fastest available (${failures.map((f) => f.split(':')[0]).join(', ')} not installed)`
          : 'fastest available'
        : 'requested';
    active = { name, tfBackend: tfName, versions, threads, reason };
    if (wanted === 'auto') options.onNotice?.(`Using the ${name} backend: ${reason}.`);
    return active;
  }
  throw new RuntimeError(`Backend "${wanted}" could not be loaded: ${failures.join('; ')}`, {
    code: 'BACKEND_UNAVAILABLE',
    suggestion:
      wanted === 'tensorflow' || wanted === 'tensorflow-gpu'
        ? `Install it with \`npm install ${BACKEND_PACKAGE[wanted]}\` (needs network access to download libtensorflow), or use --backend wasm.`
        : wanted === 'webgpu'
          ? 'It needs a WebGPU adapter: check `ftk info` and "GPU" in the README, or use --device cpu.'
          : 'Use --backend auto.',
  });
}

/** The backend chosen by `selectBackend`, if any. */
export function activeBackend(): BackendInfo | undefined {
  return active;
}

export { tf };

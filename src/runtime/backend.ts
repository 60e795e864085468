/**
 * Backend selection: the one place in ftk that touches tfjs' global engine.
 *
 * Order of preference (first that loads wins): tfjs-node-gpu, tfjs-node (both optional: their
 * install downloads libtensorflow, so they are never in `dependencies`), wasm, cpu.
 * A preference that cannot be honoured is an error, never a silent fallback; the automatic
 * choice is reported once through `onNotice`.
 */
import * as tf from '@tensorflow/tfjs';
import { RuntimeError } from '../errors.js';

import { BACKEND_PACKAGE, packageVersion } from './backend_probe.js';
import { BACKEND_NAMES, type BackendName } from './names.js';

export { BACKEND_NAMES, type BackendName };

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
  }
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
  const candidates = wanted === 'auto' ? BACKEND_NAMES : [wanted];
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
        : 'Use --backend auto.',
  });
}

/** The backend chosen by `selectBackend`, if any. */
export function activeBackend(): BackendInfo | undefined {
  return active;
}

export { tf };

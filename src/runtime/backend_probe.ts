/**
 * Which TF.js backends are installed, read from their package.json files without loading them:
 * `ftk info` answers from this in milliseconds, where initialising TF.js takes most of a second.
 */
import { createRequire } from 'node:module';
import { AUTO_BACKENDS, type BackendName } from './names.js';

const require = createRequire(import.meta.url);

/** npm package of each backend. */
export const BACKEND_PACKAGE: Readonly<Record<BackendName, string>> = Object.freeze({
  'tensorflow-gpu': '@tensorflow/tfjs-node-gpu',
  tensorflow: '@tensorflow/tfjs-node',
  wasm: '@tensorflow/tfjs-backend-wasm',
  cpu: '@tensorflow/tfjs-backend-cpu',
  webgpu: '@tensorflow/tfjs-backend-webgpu',
});

/** Installed version of a package, or undefined when it cannot be resolved. */
export function packageVersion(name: string): string | undefined {
  try {
    return (require(`${name}/package.json`) as { version: string }).version;
  } catch {
    return undefined;
  }
}

export interface InstalledBackend {
  name: BackendName;
  package: string;
  /** Installed version; undefined when the package is not installed. */
  version?: string;
}

/** Every backend `--backend auto` tries, in its order, with its installed version (if any). */
export function installedBackends(): InstalledBackend[] {
  return AUTO_BACKENDS.map((name) => ({ name, package: BACKEND_PACKAGE[name], version: packageVersion(BACKEND_PACKAGE[name]) }));
}

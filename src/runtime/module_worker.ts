/**
 * Starts a worker thread on one of ftk's own modules, compiled (`.js`) or, in a development
 * checkout run through tsx, as TypeScript (tsx's loader registered in the worker first).
 */
import { Worker } from 'node:worker_threads';

/**
 * @param callerUrl `import.meta.url` of a module in the same folder as the worker module
 * @param baseName the worker module's file name without extension, e.g. 'decode_worker'
 */
export function spawnModuleWorker(callerUrl: string, baseName: string, workerData: unknown): Worker {
  const isTs = callerUrl.endsWith('.ts');
  const target = new URL(`./${baseName}${isTs ? '.ts' : '.js'}`, callerUrl);
  if (!isTs) return new Worker(target, { workerData });
  const api = import.meta.resolve('tsx/esm/api');
  const code = `import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(target.href)}); });`;
  return new Worker(code, { eval: true, workerData });
}

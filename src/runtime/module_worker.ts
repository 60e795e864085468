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

/**
 * Resolves with the worker's first message, or with its exit code if it ends before sending one;
 * its own listeners are removed either way (a worker's 'error' is always followed by 'exit').
 */
export function firstMessage<T>(worker: Worker): Promise<{ message: T } | { exitCode: number }> {
  return new Promise((resolve) => {
    const onMessage = (message: T) => settle({ message });
    const onExit = (exitCode: number) => settle({ exitCode });
    const settle = (r: { message: T } | { exitCode: number }) => {
      worker.off('message', onMessage).off('exit', onExit);
      resolve(r);
    };
    worker.on('message', onMessage).on('exit', onExit);
  });
}

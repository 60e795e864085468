/**
 * One ONNX Runtime session on its own thread (see onnx_session_pool.ts). workerData:
 * `{ model, threads, provider }`. Says `{ ready: { outputDim, name, providers } }` or `{ fatal }` once, then answers
 * each `{ buffer, count, height, width }`, in order, with `{ buffer, features }` (both transferred
 * back) or `{ buffer, error }`.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { FtkError } from '../errors.js';
import type { ProviderName } from '../formats/device.js';
import { OnnxEngine } from './onnx_engine.js';

const port = parentPort!;
const { model, threads, provider } = workerData as { model: string | Uint8Array; threads: number; provider?: ProviderName };

function describe(err: unknown): { message: string; code?: string; suggestion?: string } {
  const e = err as Error;
  return err instanceof FtkError ? { message: e.message, code: err.code, suggestion: err.suggestion } : { message: e?.message ?? String(err) };
}

try {
  const engine = await OnnxEngine.create(model, { threads, provider });
  port.on('message', async (msg: { buffer: ArrayBuffer; count: number; height: number; width: number }) => {
    try {
      const pixels = new Float32Array(msg.buffer, 0, msg.count * msg.height * msg.width * 3);
      const out = await engine.run(pixels, msg.count, msg.height, msg.width);
      // A copy (count x dim floats, small): ORT's output buffer is native memory, not transferable.
      const features = out.slice();
      port.postMessage({ buffer: msg.buffer, features }, [msg.buffer, features.buffer as ArrayBuffer]);
    } catch (err) {
      port.postMessage({ buffer: msg.buffer, error: describe(err) }, [msg.buffer]);
    }
  });
  port.postMessage({ ready: { outputDim: engine.outputDim, name: engine.name, providers: engine.providers } });
} catch (err) {
  port.postMessage({ fatal: describe(err) });
}

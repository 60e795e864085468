/**
 * Decode worker thread (see decode_pool.ts): receives `{ id, file, name }` tasks, answers
 * `{ id, pixels?, reason? }` with the pixel buffer transferred (not copied). Tasks run as they
 * arrive; the pool bounds how many each worker holds.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { decodeForModel, type DecodeTaskOptions } from './decode_task.js';

const options = workerData as DecodeTaskOptions;
const port = parentPort!;

port.on('message', (task: { id: number; file: string; name: string }) => {
  void decodeForModel(task.file, task.name, options).then((result) => {
    if (result.pixels) port.postMessage({ id: task.id, pixels: result.pixels }, [result.pixels.buffer as ArrayBuffer]);
    else port.postMessage({ id: task.id, reason: result.reason });
  });
});
port.postMessage({ ready: true });

/** Worker thread of the linear classifiers' pool: runs `LinearTask`s (linear_task.ts). */
import { parentPort } from 'node:worker_threads';
import { serializeError } from './fold_task.js';
import { runLinearTask, type LinearTask } from './linear_task.js';

const port = parentPort;
if (!port) throw new Error('linear_worker must run in a worker thread');

port.on('message', (msg: { id: number; task: LinearTask }) => {
  runLinearTask(msg.task)
    .then((result) => port.postMessage({ id: msg.id, result }))
    .catch((e: unknown) => port.postMessage({ id: msg.id, error: serializeError(e) }));
});

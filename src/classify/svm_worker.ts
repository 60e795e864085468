/** Worker thread of the SVM cross-validation pool: runs `FoldTask`s with its own libsvm-js instance. */
import { parentPort } from 'node:worker_threads';
import { Libsvm } from './libsvm.js';
import { runFoldTask, serializeError, type FoldTask } from './fold_task.js';

const port = parentPort;
if (!port) throw new Error('svm_worker must run in a worker thread');

port.on('message', (msg: { type: 'task'; task: FoldTask }) => {
  if (msg.type !== 'task') return;
  Libsvm.load()
    .then((lib) => {
      const result = runFoldTask(lib, msg.task);
      port.postMessage({ type: 'result', result }, [result.predictions.buffer as ArrayBuffer]);
    })
    .catch((e: unknown) => port.postMessage({ type: 'error', taskId: msg.task.taskId, error: serializeError(e) }));
});
port.postMessage({ type: 'ready' });

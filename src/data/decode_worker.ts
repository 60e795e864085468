/**
 * Decode worker thread (see decode_pool.ts). Messages in: `{ ring }` (a SharedArrayBuffer of
 * pixel slots, sent before the tasks that use it) and `{ id, file, name, slot }`. The pixels are
 * written straight into slot `slot` of the ring, so nothing is allocated, copied or transferred
 * per image; the answer is `{ id, slot }` or `{ id, reason }`. Tasks run as they arrive; the pool
 * bounds how many each worker holds and never reuses a slot before its image is consumed.
 */
import { parentPort, workerData } from 'node:worker_threads';
import sharp from 'sharp';
import { decodeForModel, type DecodeTaskOptions } from './decode_task.js';

const options = workerData as DecodeTaskOptions;
const port = parentPort!;
const slotFloats = options.size * options.size * 3;
let ring: SharedArrayBuffer | undefined;

port.on('message', (msg: { ring?: SharedArrayBuffer; id: number; file: string; name: string; slot: number }) => {
  if (msg.ring) {
    ring = msg.ring;
    return;
  }
  const out = new Float32Array(ring!, msg.slot * slotFloats * 4, slotFloats);
  void decodeForModel(msg.file, msg.name, options, out).then((result) => {
    port.postMessage(result.pixels ? { id: msg.id, slot: msg.slot } : { id: msg.id, reason: result.reason });
  });
});

// Warm-up before saying ready: the first decode in a thread initialises libvips and libjpeg and
// compiles the resize and preprocessing code (~0.2 s of CPU per thread), which would otherwise land
// on the first images, after extraction's clock has started, while inference competes for the cores.
async function warmUp(): Promise<void> {
  const jpeg = await sharp({ create: { width: 48, height: 40, channels: 3, background: { r: 90, g: 140, b: 200 } } }).jpeg().toBuffer();
  const out = new Float32Array(slotFloats);
  for (let i = 0; i < 3; i++) await decodeForModel(jpeg, 'warm-up.jpg', options, out);
}
void warmUp().finally(() => port.postMessage({ ready: true }));

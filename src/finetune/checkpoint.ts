/**
 * Training checkpoints: one file, `<out>/checkpoint.ftkc`, rewritten after every epoch.
 *
 * Layout (little-endian): `FTKCKPT1` (8 bytes) | header length (u32) | header (JSON, UTF-8) |
 * tensor data (float32, concatenated) | sha256 of everything before it (32 bytes).
 * The header holds the training configuration, the dataset key, the loop state and where each
 * named tensor lies in the data. Writes go to a temporary file that is fsync-ed and renamed over
 * the previous checkpoint, so a kill at any moment leaves either the old or the new checkpoint,
 * whole. A checkpoint whose size, magic or checksum is wrong is rejected with an error and left
 * in place (nothing is deleted). Format notes: src/formats/README.md.
 */
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { FtkError } from '../errors.js';

const MAGIC = Buffer.from('FTKCKPT1', 'latin1');
export const CHECKPOINT_FILE = 'checkpoint.ftkc';
export const CHECKPOINT_FORMAT_VERSION = 1;

export interface NamedArray {
  name: string;
  shape: number[];
  values: Float32Array;
}

export interface CheckpointHeader<S = unknown> {
  formatVersion: number;
  /** Options that change the result (`trainingConfig`); a resume must match them. */
  config: Record<string, unknown>;
  /** sha256 over the dataset's (file, content hash, label) rows. */
  datasetKey: string;
  state: S;
  createdAt: string;
}

export interface Checkpoint<S = unknown> {
  header: CheckpointHeader<S>;
  arrays: Map<string, NamedArray>;
}

export function checkpointPath(out: string): string {
  return path.join(out, CHECKPOINT_FILE);
}

/** Writes atomically (temporary file, fsync, rename). */
export async function writeCheckpoint<S>(file: string, header: CheckpointHeader<S>, arrays: NamedArray[]): Promise<void> {
  let offset = 0;
  const index = arrays.map((a) => {
    const entry = { name: a.name, shape: a.shape, offset, length: a.values.length };
    offset += a.values.length;
    return entry;
  });
  const headerBytes = Buffer.from(JSON.stringify({ ...header, tensors: index }), 'utf8');
  const lengthBytes = Buffer.alloc(4);
  lengthBytes.writeUInt32LE(headerBytes.length);
  const parts: Buffer[] = [MAGIC, lengthBytes, headerBytes, ...arrays.map((a) => Buffer.from(a.values.buffer, a.values.byteOffset, a.values.byteLength))];
  const hash = createHash('sha256');
  for (const p of parts) hash.update(p);
  parts.push(hash.digest());
  const tmp = `${file}.tmp-${process.pid}`;
  const handle = await fsp.open(tmp, 'w');
  try {
    for (const p of parts) await handle.write(p);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await fsp.rename(tmp, file);
}

function corrupt(file: string, why: string): FtkError {
  return new FtkError(`The checkpoint ${file} is corrupt: ${why}.`, {
    code: 'CHECKPOINT_CORRUPT',
    suggestion: 'It was left untouched. Run again with --overwrite (without --resume) to start the training over, or restore the file from a backup.',
  });
}

/** Reads and verifies a checkpoint; throws CHECKPOINT_MISSING / CHECKPOINT_CORRUPT errors. */
export async function readCheckpoint<S>(file: string): Promise<Checkpoint<S>> {
  let bytes: Buffer;
  try {
    bytes = await fsp.readFile(file);
  } catch (err) {
    throw new FtkError(`No checkpoint to resume from: ${file} ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : `cannot be read (${(err as Error).message})`}.`, {
      code: 'CHECKPOINT_MISSING',
      suggestion: 'Drop --resume to start a new run, or point --out at the folder of the interrupted run.',
      cause: err,
    });
  }
  if (bytes.length < MAGIC.length + 4 + 32 || !bytes.subarray(0, MAGIC.length).equals(MAGIC)) throw corrupt(file, 'not an ftk checkpoint (bad magic or too short)');
  const body = bytes.subarray(0, bytes.length - 32);
  if (!createHash('sha256').update(body).digest().equals(bytes.subarray(bytes.length - 32))) throw corrupt(file, 'checksum mismatch (truncated or modified)');
  const headerLength = bytes.readUInt32LE(MAGIC.length);
  const dataStart = MAGIC.length + 4 + headerLength;
  if (dataStart > body.length) throw corrupt(file, 'header length out of range');
  let header: CheckpointHeader<S> & { tensors: { name: string; shape: number[]; offset: number; length: number }[] };
  try {
    header = JSON.parse(body.subarray(MAGIC.length + 4, dataStart).toString('utf8'));
  } catch {
    throw corrupt(file, 'unreadable header');
  }
  if (header.formatVersion !== CHECKPOINT_FORMAT_VERSION) throw corrupt(file, `format version ${header.formatVersion}, expected ${CHECKPOINT_FORMAT_VERSION}`);
  const data = body.subarray(dataStart);
  const floats = data.length / 4;
  const aligned = new Float32Array(floats);
  new Uint8Array(aligned.buffer).set(data);
  const arrays = new Map<string, NamedArray>();
  for (const t of header.tensors ?? []) {
    if (t.offset + t.length > floats) throw corrupt(file, `tensor ${t.name} out of range`);
    arrays.set(t.name, { name: t.name, shape: t.shape, values: aligned.subarray(t.offset, t.offset + t.length) });
  }
  const { tensors: _omit, ...rest } = header;
  void _omit;
  return { header: rest as CheckpointHeader<S>, arrays };
}

/**
 * IDX files: the array format of MNIST and Fashion-MNIST (`train-images-idx3-ubyte.gz`, ...), as
 * described on Y. LeCun's MNIST page:
 *
 *   bytes 0-1   0x00 0x00
 *   byte  2     element type: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64
 *   byte  3     number of dimensions d
 *   then d big-endian uint32 sizes, then the elements, big-endian, row-major (last index fastest).
 *
 * Gzipped files (what the datasets ship) are recognised by their content (1f 8b), whatever the
 * name, and inflated with node:zlib.
 */
import { promises as fsp } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { DatasetError } from '../errors.js';

export type IdxType = 'uint8' | 'int8' | 'int16' | 'int32' | 'float32' | 'float64';

export interface IdxArray {
  type: IdxType;
  /** Sizes of the dimensions, e.g. [60000, 28, 28]. */
  shape: number[];
  /** The elements, row-major, in host byte order. */
  data: Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;
}

const TYPES: Readonly<Record<number, { type: IdxType; bytes: number }>> = Object.freeze({
  0x08: { type: 'uint8', bytes: 1 },
  0x09: { type: 'int8', bytes: 1 },
  0x0b: { type: 'int16', bytes: 2 },
  0x0c: { type: 'int32', bytes: 4 },
  0x0d: { type: 'float32', bytes: 4 },
  0x0e: { type: 'float64', bytes: 8 },
});

function bad(source: string, why: string): DatasetError {
  return new DatasetError(`${source} is not a valid IDX file: ${why}.`, {
    code: 'IDX_INVALID',
    suggestion: 'Pass an MNIST-style IDX file (e.g. train-images-idx3-ubyte.gz), whole and uncorrupted.',
  });
}

/** Decodes IDX bytes (gzipped or not). `source` names the file in error messages. */
export function decodeIdx(bytes: Uint8Array, source = 'IDX data'): IdxArray {
  let buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length >= 2 && buf[0] === 0x1f && buf[1] === 0x8b) {
    try {
      buf = gunzipSync(buf);
    } catch (err) {
      throw bad(source, `gzip data is corrupt (${(err as Error).message})`);
    }
  }
  if (buf.length < 4) throw bad(source, `${buf.length} bytes, shorter than the 4-byte header`);
  if (buf[0] !== 0 || buf[1] !== 0) throw bad(source, `the first two bytes are ${buf[0]}, ${buf[1]} (expected 0, 0)`);
  const kind = TYPES[buf[2]];
  if (!kind) throw bad(source, `unknown element type 0x${buf[2].toString(16).padStart(2, '0')} (allowed: 0x08, 0x09, 0x0b, 0x0c, 0x0d, 0x0e)`);
  const dims = buf[3];
  const headerBytes = 4 + 4 * dims;
  if (buf.length < headerBytes) throw bad(source, `the header declares ${dims} dimensions but the file ends at byte ${buf.length}`);
  const shape = Array.from({ length: dims }, (_, i) => buf.readUInt32BE(4 + 4 * i));
  const count = shape.reduce((a, b) => a * b, 1);
  const expected = headerBytes + count * kind.bytes;
  if (buf.length !== expected) {
    throw bad(source, `shape [${shape.join(', ')}] of ${kind.type} needs ${expected} bytes, the file has ${buf.length}${buf.length < expected ? ' (truncated?)' : ''}`);
  }
  const body = buf.subarray(headerBytes);
  let data: IdxArray['data'];
  switch (kind.type) {
    case 'uint8':
      data = Uint8Array.from(body);
      break;
    case 'int8':
      data = Int8Array.from(body, (b) => (b << 24) >> 24);
      break;
    case 'int16':
      data = Int16Array.from({ length: count }, (_, i) => body.readInt16BE(2 * i));
      break;
    case 'int32':
      data = Int32Array.from({ length: count }, (_, i) => body.readInt32BE(4 * i));
      break;
    case 'float32':
      data = Float32Array.from({ length: count }, (_, i) => body.readFloatBE(4 * i));
      break;
    case 'float64':
      data = Float64Array.from({ length: count }, (_, i) => body.readDoubleBE(8 * i));
      break;
  }
  return { type: kind.type, shape, data };
}

/** Reads an IDX file (gzipped or not). */
export async function readIdx(file: string): Promise<IdxArray> {
  const bytes = await fsp.readFile(file).catch((err: NodeJS.ErrnoException) => {
    throw new DatasetError(`Cannot read ${file}: ${err.code ?? err.message}.`, {
      code: 'IDX_UNREADABLE',
      suggestion: 'Check the path (Debian: `dpkg -L dataset-fashion-mnist` lists the files).',
      cause: err,
    });
  });
  return decodeIdx(bytes, file);
}

/** Encodes an array as IDX bytes (uncompressed): for tests and for writing subsets. */
export function encodeIdx(array: IdxArray): Buffer {
  const code = Number(Object.entries(TYPES).find(([, t]) => t.type === array.type)![0]);
  const bytes = TYPES[code].bytes;
  const count = array.shape.reduce((a, b) => a * b, 1);
  if (count !== array.data.length) throw new DatasetError(`encodeIdx: shape [${array.shape.join(', ')}] holds ${count} elements, data has ${array.data.length}.`, { code: 'IDX_INVALID' });
  const out = Buffer.alloc(4 + 4 * array.shape.length + count * bytes);
  out[2] = code;
  out[3] = array.shape.length;
  array.shape.forEach((s, i) => out.writeUInt32BE(s, 4 + 4 * i));
  const at = 4 + 4 * array.shape.length;
  for (let i = 0; i < count; i++) {
    const v = array.data[i];
    if (array.type === 'uint8') out.writeUInt8(v, at + i);
    else if (array.type === 'int8') out.writeInt8(v, at + i);
    else if (array.type === 'int16') out.writeInt16BE(v, at + 2 * i);
    else if (array.type === 'int32') out.writeInt32BE(v, at + 4 * i);
    else if (array.type === 'float32') out.writeFloatBE(v, at + 4 * i);
    else out.writeDoubleBE(v, at + 8 * i);
  }
  return out;
}

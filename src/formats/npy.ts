/**
 * NumPy .npy format, version 1.0, for float32 ('<f4'), float64 ('<f8'), int32 ('<i4') and
 * uint8 ('|u1') C-order arrays: what `numpy.load` reads unchanged. See src/formats/README.md.
 */
import { FeaturesError } from '../errors.js';

const MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]);

export type NpyDtype = '<f4' | '<f8' | '<i4' | '|u1';
export type NpyData = Float32Array | Float64Array | Int32Array | Uint8Array;

export interface NpyArray {
  dtype: NpyDtype;
  shape: number[];
  data: NpyData;
}

function dtypeOf(data: NpyData): NpyDtype {
  if (data instanceof Float32Array) return '<f4';
  if (data instanceof Float64Array) return '<f8';
  if (data instanceof Int32Array) return '<i4';
  return '|u1';
}

/** The header (magic, version 1.0, padded dict) for an array of this dtype and shape. */
export function npyHeader(dtype: NpyDtype, shape: readonly number[]): Buffer {
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let dict = `{'descr': '${dtype}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  // Total header length (magic 6 + version 2 + len 2 + dict + '\n') must be a multiple of 64.
  const unpadded = 10 + dict.length + 1;
  dict += ' '.repeat((64 - (unpadded % 64)) % 64) + '\n';
  if (dict.length > 65535) throw new FeaturesError('npy header too long for format version 1.0');
  const head = Buffer.alloc(10);
  MAGIC.copy(head, 0);
  head[6] = 1;
  head[7] = 0;
  head.writeUInt16LE(dict.length, 8);
  return Buffer.concat([head, Buffer.from(dict, 'latin1')]);
}

/** Serialises an array to .npy bytes. */
export function encodeNpy(data: NpyData, shape: readonly number[]): Buffer {
  const count = shape.reduce((a, b) => a * b, 1);
  if (count !== data.length) {
    throw new FeaturesError(`npy: shape [${shape.join(', ')}] holds ${count} values but the data has ${data.length}.`);
  }
  const body = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return Buffer.concat([npyHeader(dtypeOf(data), shape), body]);
}

/** Parses .npy bytes (version 1.x/2.x/3.x, little-endian, C order). `source` names the file in errors. */
/**
 * Decodes a .npy file. By default the data is copied out of `bytes`; with `copy: false` (and data
 * aligned to its element size, as numpy writes it) the result is a view on `bytes`' memory, so a
 * file read into a SharedArrayBuffer stays there (the linear classifiers' worker threads read it).
 */
export function decodeNpy(bytes: Uint8Array, source = 'array.npy', options: { copy?: boolean } = {}): NpyArray {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length < 10 || !buf.subarray(0, 6).equals(MAGIC)) {
    throw new FeaturesError(`${source} is not a NumPy .npy file (bad magic bytes).`, {
      code: 'NPY_BAD_MAGIC',
      suggestion: 'Pass the .npy written by `ftk bottleneck extract`, or save with numpy.save.',
    });
  }
  const major = buf[6];
  const headerLen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const headerStart = major === 1 ? 10 : 12;
  const header = buf.subarray(headerStart, headerStart + headerLen).toString('latin1');
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  const badHeader = (what: string) =>
    new FeaturesError(`${source}: unreadable .npy header (${what}): ${header.trim()}`, {
      code: 'NPY_BAD_HEADER',
      suggestion: 'The file is damaged or was not written by numpy.save: extract the features again, or save them with numpy.save.',
    });
  if (!descr || !fortran || shapeText === undefined) throw badHeader("expected 'descr', 'fortran_order' and 'shape'");
  if (fortran === 'True') {
    throw new FeaturesError(`${source}: Fortran-order arrays are not supported.`, {
      code: 'NPY_FORTRAN',
      suggestion: 'Save it in C order: numpy.save(path, numpy.ascontiguousarray(x)).',
    });
  }
  const shape = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map(Number);
  if (!shape.every((n) => Number.isSafeInteger(n) && n >= 0)) throw badHeader(`shape (${shapeText}) is not a tuple of sizes`);
  const count = shape.reduce((a, b) => a * b, 1);
  const offset = headerStart + headerLen;
  const byteLength = buf.length - offset;
  const sizes: Record<string, number> = { '<f4': 4, '<f8': 8, '<i4': 4, '|u1': 1, '<u1': 1 };
  const size = sizes[descr];
  if (!size) {
    throw new FeaturesError(`${source}: dtype ${descr} is not supported (ftk reads little-endian float32, float64, int32 and uint8).`, {
      code: 'NPY_DTYPE',
      suggestion: "Save features as little-endian float32: numpy.save(path, x.astype('<f4')).",
    });
  }
  if (byteLength < count * size) {
    throw new FeaturesError(
      `${source}: header says shape (${shape.join(', ')}) = ${count * size} bytes but the file holds ${byteLength}.`,
      { code: 'NPY_TRUNCATED', suggestion: 'The file is truncated: extract the features again.' },
    );
  }
  const at = buf.byteOffset + offset;
  let copy: Uint8Array;
  if (options.copy === false && at % size === 0) copy = new Uint8Array(buf.buffer, at, count * size);
  else {
    copy = new Uint8Array(count * size);
    copy.set(buf.subarray(offset, offset + count * size));
  }
  const data =
    descr === '<f4'
      ? new Float32Array(copy.buffer, copy.byteOffset, count)
      : descr === '<f8'
        ? new Float64Array(copy.buffer, copy.byteOffset, count)
        : descr === '<i4'
          ? new Int32Array(copy.buffer, copy.byteOffset, count)
          : copy;
  return { dtype: descr === '<u1' ? '|u1' : (descr as NpyDtype), shape, data };
}

/**
 * One image, file to model input: read the bytes, decode and resize exactly as `decodeImage` does
 * (it is `decodeImage` on the file's bytes), then apply the model's ImageNet preprocessing when
 * one is given. Shared by the decode worker threads and the inline (no-worker) path, so the
 * per-pixel work runs in parallel, off the thread that drives inference.
 *
 * The bytes are read with one `readFile` and handed to sharp as a buffer: measured on the
 * cats-dogs photos, libvips opening the file itself costs about 0.9 ms more CPU per image than
 * decoding the same bytes from memory. A file that cannot be read is passed to `decodeImage` by
 * path, so its skip reason is exactly the one `decodeImage` gives; so is a file over 32 MiB
 * (libvips then streams it, keeping memory bounded).
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { preprocessPixels } from '../models/preprocess.js';
import type { PreprocessMode } from '../models/types.js';
import { decodeImage, ImageDecodeError } from './decode.js';

export interface DecodeTaskOptions {
  /** Square output size. */
  size: number;
  /** Default 'squash'. */
  crop?: 'squash' | 'center';
  /** Default: decodeImage's. */
  maxInputPixels?: number;
  /** ImageNet preprocessing applied to the pixels. Default: none (values stay in 0..255). */
  preprocessing?: PreprocessMode;
  /** Read files with blocking calls (decode worker threads). Default false. */
  syncRead?: boolean;
}

export interface DecodeTaskResult {
  /** size*size*3 float32 RGB values (0..255, or preprocessed), or undefined when the file was skipped. */
  pixels?: Float32Array;
  /** Why the file was skipped (decodeImage's reason). */
  reason?: string;
}

/** Files up to this size are read whole and decoded from memory; larger ones are decoded from the path. */
const WHOLE_READ_LIMIT = 32 << 20;

/** The same, blocking: for worker threads, which have nothing else to do meanwhile (saves four trips through libuv's pool per image). */
function readSmallFileSync(file: string): Buffer | undefined {
  let fd: number | undefined;
  try {
    fd = openSync(file, 'r');
    const { size } = fstatSync(fd);
    if (size <= 0 || size > WHOLE_READ_LIMIT) return undefined;
    const buf = Buffer.allocUnsafe(size);
    let off = 0;
    while (off < size) {
      const n = readSync(fd, buf, off, size - off, off);
      if (n === 0) break;
      off += n;
    }
    return off === size ? buf : buf.subarray(0, off);
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

async function readSmallFile(file: string, sync: boolean): Promise<Buffer | undefined> {
  if (sync) return readSmallFileSync(file);
  let handle;
  try {
    handle = await open(file, 'r');
    const { size } = await handle.stat();
    return size > 0 && size <= WHOLE_READ_LIMIT ? await handle.readFile() : undefined;
  } catch {
    return undefined;
  } finally {
    await handle?.close();
  }
}

/**
 * Decodes one file (a path, or its bytes already read) for the model; never throws for a bad file
 * (returns its reason).
 * @param out where to write the pixels (size*size*3 floats); default a new buffer
 */
export async function decodeForModel(file: string | Buffer, name: string, options: DecodeTaskOptions, out?: Float32Array): Promise<DecodeTaskResult> {
  const decodeOptions = { size: options.size, crop: options.crop, maxInputPixels: options.maxInputPixels, out };
  try {
    const bytes = typeof file === 'string' ? await readSmallFile(file, options.syncRead ?? false) : file;
    // Empty or unreadable: decodeImage on the path gives the exact reason.
    const img = await decodeImage(bytes && bytes.length > 0 ? bytes : file, decodeOptions, name);
    if (options.preprocessing) preprocessPixels(img.pixels, options.preprocessing);
    return { pixels: img.pixels };
  } catch (err) {
    if (err instanceof ImageDecodeError) return { reason: err.reason };
    return { reason: `decode failed: ${(err as Error).message}` };
  }
}

/**
 * Small JPEG thumbnails as base64 data URIs, so the HTML report carries its images inside it
 * (no file references, nothing to load). EXIF orientation is applied; transparency is flattened
 * on white. An image that is gone or cannot be decoded yields a reason instead of a thumbnail.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';

export interface ThumbnailOptions {
  /** Longest side in pixels. Default 96. */
  size?: number;
  /** JPEG quality 1-100. Default 70. */
  quality?: number;
}

export type Thumbnail = { dataUri: string; width: number; height: number } | { error: string };

export const THUMBNAIL_SIZE_DEFAULT = 96;
const QUALITY_DEFAULT = 70;

/** A thumbnail of `file`, resolved against `root` when relative. Never throws. */
export async function makeThumbnail(root: string, file: string, options: ThumbnailOptions = {}): Promise<Thumbnail> {
  const size = options.size ?? THUMBNAIL_SIZE_DEFAULT;
  const quality = options.quality ?? QUALITY_DEFAULT;
  const full = path.resolve(root, file);
  // A report whose images have moved renders without them, and without loading sharp (~0.3 s).
  if (!existsSync(full)) return { error: `image not found at ${full}` };
  try {
    // sharp loads only when a thumbnail is made: a report without images starts without it.
    const { default: sharp } = await import('sharp');
    const { data, info } = await sharp(full, { failOn: 'error' })
      .rotate()
      .resize(size, size, { fit: 'inside' })
      .flatten({ background: '#ffffff' })
      .jpeg({ quality })
      .toBuffer({ resolveWithObject: true });
    return { dataUri: `data:image/jpeg;base64,${data.toString('base64')}`, width: info.width, height: info.height };
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const msg = String(err?.message ?? e);
    if (/missing|no such file|ENOENT/i.test(msg)) return { error: `image not found at ${full}` };
    return { error: `cannot decode ${full}: ${msg.split('\n')[0]}` };
  }
}

/** Thumbnails of several files, in order, two at a time. */
export async function makeThumbnails(root: string, files: readonly string[], options: ThumbnailOptions = {}): Promise<Thumbnail[]> {
  const out: Thumbnail[] = new Array(files.length);
  let next = 0;
  const worker = async () => {
    while (next < files.length) {
      const i = next++;
      out[i] = await makeThumbnail(root, files[i], options);
    }
  };
  await Promise.all([worker(), worker()]);
  return out;
}

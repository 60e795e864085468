/**
 * Content hashes of dataset files. Identical files under two names (a copy in two class folders,
 * or twice in one) leak between cross-validation folds and inflate scores, so ftk reports them.
 */
import { createHash } from 'node:crypto';
import { createReadStream, promises as fsp } from 'node:fs';
import { compareCodePoints } from './dataset.js';
import { fileErrorReason } from './decode.js';

/** Files up to this size are read whole (much faster than a stream for photos); larger ones are streamed. */
const WHOLE_READ_LIMIT = 32 << 20;

/** sha256 of a file's bytes, hex (memory bounded by 32 MiB whatever the file size). */
export async function sha256File(file: string): Promise<string> {
  const handle = await fsp.open(file, 'r');
  try {
    const { size } = await handle.stat();
    if (size <= WHOLE_READ_LIMIT) return createHash('sha256').update(await handle.readFile()).digest('hex');
  } finally {
    await handle.close();
  }
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/**
 * Groups of files with identical hashes; only groups of two or more. Files within a group and the
 * groups themselves (by their first file) are sorted by code point, so the result does not depend
 * on the input order.
 *
 * @example
 * findDuplicates([{ file: 'a/1.jpg', hash: 'x' }, { file: 'b/9.jpg', hash: 'x' }]); // [['a/1.jpg', 'b/9.jpg']]
 */
export function findDuplicates(entries: readonly { file: string; hash: string }[]): string[][] {
  const byHash = new Map<string, string[]>();
  for (const { file, hash } of entries) {
    const group = byHash.get(hash);
    if (group) group.push(file);
    else byHash.set(hash, [file]);
  }
  const groups: string[][] = [];
  for (const files of byHash.values()) {
    if (files.length >= 2) groups.push(files.sort(compareCodePoints));
  }
  return groups.sort((a, b) => compareCodePoints(a[0], b[0]));
}

/** Why a file could not be read, in the words the decoder uses (a file gone or a symlink loop gives the decoder's reason, not an errno). */
export function unreadableReason(err: unknown): string {
  return fileErrorReason(err);
}

/**
 * sha256 of many files, `concurrency` at a time, in input order; a file that cannot be read gives
 * `{ error }` (with `unreadableReason`) instead of failing the batch. `onHashed` is called after
 * each file with the count done.
 */
export async function sha256Files(
  paths: readonly string[],
  options: { concurrency?: number; onHashed?: (done: number) => void } = {},
): Promise<(string | { error: string })[]> {
  const out: (string | { error: string })[] = new Array(paths.length);
  let next = 0;
  let done = 0;
  await Promise.all(
    Array.from({ length: Math.min(options.concurrency ?? 16, paths.length) }, async () => {
      while (next < paths.length) {
        const i = next++;
        try {
          out[i] = await sha256File(paths[i]);
        } catch (err) {
          out[i] = { error: unreadableReason(err) };
        }
        options.onHashed?.(++done);
      }
    }),
  );
  return out;
}

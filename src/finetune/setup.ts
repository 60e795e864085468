/** Before training: the output folder's state, and the dataset's content hashes and key (for checkpoints and caches). */
import { createHash } from 'node:crypto';
import { existsSync, promises as fsp } from 'node:fs';
import path from 'node:path';
import type { Dataset } from '../data/dataset.js';
import { sha256Files } from '../data/hash.js';
import { FtkError } from '../errors.js';
import { checkpointPath } from './checkpoint.js';
import type { PreparedImage } from './data.js';
import { META_JSON } from './format.js';
import type { ResolvedFinetuneOptions } from './options.js';

/** Refuses to overwrite a finished model or an unfinished run unless asked; `--overwrite` drops the old checkpoint. */
export async function prepareOut(r: ResolvedFinetuneOptions): Promise<void> {
  const ckpt = checkpointPath(r.out);
  const finished = existsSync(path.join(r.out, META_JSON));
  if (r.resume) {
    if (!existsSync(ckpt) && finished) {
      throw new FtkError(`${r.out} holds a finished model and no checkpoint: there is nothing to resume.`, {
        code: 'RUN_FINISHED',
        suggestion: 'Use the model as it is (`ftk predict`), or pass --overwrite (without --resume) to train again.',
      });
    }
    return;
  }
  if (r.overwrite) {
    await fsp.rm(ckpt, { force: true });
    return;
  }
  if (existsSync(ckpt)) {
    throw new FtkError(`${r.out} holds the checkpoint of an unfinished run.`, {
      code: 'RUN_UNFINISHED',
      suggestion: 'Pass --resume to continue it, or --overwrite to start over (the checkpoint is then deleted).',
    });
  }
  if (finished) {
    throw new FtkError(`${r.out} already holds a fine-tuned model (${META_JSON}).`, {
      code: 'MODEL_EXISTS',
      suggestion: 'Choose another --out, or pass --overwrite to replace it.',
    });
  }
}

/** Content hashes of the dataset's files (bounded concurrency); unreadable files are skipped. */
export async function hashImages(dataset: Dataset, skip: (file: string, reason: string) => void): Promise<PreparedImage[]> {
  const hashes = await sha256Files(dataset.entries.map((e) => e.path));
  const out: PreparedImage[] = [];
  dataset.entries.forEach((e, i) => {
    const h = hashes[i];
    if (typeof h === 'string') out.push({ path: e.path, file: e.file, hash: h, label: e.label });
    else skip(e.file, h.error);
  });
  return out;
}

/** One key for the dataset a checkpoint was trained on: classes, files, contents and labels. */
export function datasetKey(images: readonly PreparedImage[], classes: readonly string[]): string {
  const h = createHash('sha256').update(JSON.stringify(classes));
  for (const img of images) h.update(`${img.file}\0${img.hash}\0${img.label}\n`);
  return h.digest('hex');
}

/**
 * The grid search's results log, so a killed search resumes where it stopped (libsvm
 * `tools/grid.py`'s `-out` file and `-resume`, made safe to trust).
 *
 * One JSON document per line (format: src/formats/README.md, "Grid search log"):
 *   line 1: `{"format":"ftk-grid-log","version":1,"key":"<sha256>", ...}`: the key hashes the
 *           features, the labels and every option that changes a fold's score (kernel, scaler,
 *           class weights, tol, cache size, shrinking, folds, repeats, shuffle, seed);
 *   then one line per finished (split, gamma) task: the held-out accuracy of every C of the task.
 *
 * Each task's line is appended with one write() once the task is done, so a process killed at any
 * moment leaves whole lines plus at most one torn last line. Every strict prefix of a JSON object
 * is invalid JSON, so a torn line is recognised, dropped and cut off the file before new lines are
 * appended. Resuming with other features or options is refused (the key differs); resuming with
 * another grid reuses the (split, gamma, C) results the grids share, as grid.py does.
 *
 * Porting note: grid.py logs one line per (C, gamma) point with its cross-validation rate; ftk's
 * unit of work is one (fold, gamma) task covering every C, so that is what it logs, and the
 * accuracies are stored as JSON numbers (exact round trip of the doubles), so a resumed search
 * returns the same table, bit for bit, as an uninterrupted one.
 */
import { createHash } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, truncateSync, writeSync } from 'node:fs';
import path from 'node:path';
import { OptionsError } from '../errors.js';
import type { FeatureMatrix } from './matrix.js';
import type { ResolvedCvOptions, ResolvedSvmOptions } from './options.js';

export const GRID_LOG_FORMAT = 'ftk-grid-log';
export const GRID_LOG_VERSION = 1;

/** One finished (split, gamma) task: held-out accuracy for each log2 C. */
export interface GridLogTask {
  split: number;
  /** null for the linear kernel. */
  log2Gamma: number | null;
  log2C: number[];
  accuracy: number[];
}

interface GridLogHeader {
  format: typeof GRID_LOG_FORMAT;
  version: number;
  key: string;
  samples: number;
  features: number;
  svm: Record<string, unknown>;
  cv: Record<string, unknown>;
  createdAt: string;
}

/** The options that change a fold's score (workers, probability and its seed do not). */
function scoreOptions(svm: ResolvedSvmOptions, cv: ResolvedCvOptions): { svm: Record<string, unknown>; cv: Record<string, unknown> } {
  return {
    svm: { kernel: svm.kernel, scaler: svm.scaler, classWeight: svm.classWeight, tol: svm.tol, cacheSize: svm.cacheSize, shrinking: svm.shrinking },
    cv: { folds: cv.folds, repeats: cv.repeats, shuffle: cv.shuffle, seed: cv.seed ?? null },
  };
}

/** sha256 over the data, the labels and the score-changing options. */
export function gridLogKey(M: FeatureMatrix, codes: Int32Array, svm: ResolvedSvmOptions, cv: ResolvedCvOptions): string {
  const h = createHash('sha256');
  h.update(`${M.rows}x${M.cols}\n`);
  h.update(new Uint8Array(M.data.buffer, M.data.byteOffset, M.rows * M.cols * 4));
  h.update(new Uint8Array(codes.buffer, codes.byteOffset, codes.byteLength));
  h.update(JSON.stringify(scoreOptions(svm, cv)));
  return h.digest('hex');
}

function isTask(v: unknown): v is GridLogTask {
  if (v === null || typeof v !== 'object') return false;
  const t = v as Record<string, unknown>;
  const nums = (a: unknown): a is number[] => Array.isArray(a) && a.every((x) => typeof x === 'number' && Number.isFinite(x));
  return (
    Number.isInteger(t.split) &&
    (t.log2Gamma === null || (typeof t.log2Gamma === 'number' && Number.isFinite(t.log2Gamma))) &&
    nums(t.log2C) &&
    nums(t.accuracy) &&
    t.log2C.length === t.accuracy.length &&
    t.accuracy.every((a) => a >= 0 && a <= 1)
  );
}

/**
 * An open results log. `open` either starts a new log (replacing any file there) or, with
 * `resume`, reads the finished tasks of an existing one with the same key.
 */
export class GridLog {
  private constructor(
    readonly file: string,
    private fd: number,
    /** Tasks read back from the file (empty for a new log). */
    readonly restored: GridLogTask[],
  ) {}

  static open(
    file: string,
    init: { M: FeatureMatrix; codes: Int32Array; svm: ResolvedSvmOptions; cv: ResolvedCvOptions; resume: boolean },
  ): GridLog {
    const abs = path.resolve(file);
    const key = gridLogKey(init.M, init.codes, init.svm, init.cv);
    if (init.resume && existsSync(abs)) {
      const restored = readLog(abs, key);
      return new GridLog(abs, openSync(abs, 'a'), restored);
    }
    mkdirSync(path.dirname(abs), { recursive: true });
    const header: GridLogHeader = {
      format: GRID_LOG_FORMAT,
      version: GRID_LOG_VERSION,
      key,
      samples: init.M.rows,
      features: init.M.cols,
      ...scoreOptions(init.svm, init.cv),
      createdAt: new Date().toISOString(),
    };
    // The header goes in by rename, so a log file always starts with a whole header.
    const tmp = `${abs}.tmp-${process.pid}`;
    const fd = openSync(tmp, 'w');
    try {
      writeSync(fd, JSON.stringify(header) + '\n');
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, abs);
    return new GridLog(abs, openSync(abs, 'a'), []);
  }

  /** Appends one finished task (one write: a kill leaves the whole line or a torn, ignored one). */
  append(task: GridLogTask): void {
    writeSync(this.fd, JSON.stringify(task) + '\n');
  }

  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }
}

/** Reads a log: checks its header and key, returns its tasks, cuts a torn last line off the file. */
function readLog(file: string, key: string): GridLogTask[] {
  const bytes = readFileSync(file);
  // Everything after the last newline is a line that was being written when the process died.
  const whole = bytes.lastIndexOf(0x0a) + 1;
  const lines = bytes.subarray(0, whole).toString('utf8').split('\n');
  lines.pop();
  const fresh = `Run without --resume to start the search over (the log is replaced), or delete ${file}.`;
  let header: GridLogHeader | undefined;
  try {
    header = lines.length > 0 ? (JSON.parse(lines[0]) as GridLogHeader) : undefined;
  } catch {
    header = undefined;
  }
  if (!header || header.format !== GRID_LOG_FORMAT) {
    throw new OptionsError(`${file} is not an ftk grid search log (expected a first line with "format": "${GRID_LOG_FORMAT}").`, {
      code: 'GRID_LOG_INVALID',
      suggestion: `Pass another --grid-log file, or: ${fresh}`,
    });
  }
  if (header.version !== GRID_LOG_VERSION) {
    throw new OptionsError(`${file} is a grid search log of version ${header.version}; this ftk reads version ${GRID_LOG_VERSION}.`, {
      code: 'GRID_LOG_VERSION',
      suggestion: fresh,
    });
  }
  if (header.key !== key) {
    throw new OptionsError(
      `${file} was written for other features or other options (it logged ${header.samples} samples x ${header.features} features, ` +
        `svm ${JSON.stringify(header.svm)}, cv ${JSON.stringify(header.cv)}): its results cannot be reused.`,
      { code: 'GRID_LOG_MISMATCH', suggestion: `Resume with the same features file and options, or: ${fresh}` },
    );
  }
  const tasks: GridLogTask[] = [];
  for (let i = 1; i < lines.length; i++) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(lines[i]);
    } catch {
      parsed = undefined;
    }
    if (!isTask(parsed)) {
      throw new OptionsError(`${file} line ${i + 1} is not a valid grid search result: the log was changed by something other than ftk.`, {
        code: 'GRID_LOG_INVALID',
        suggestion: fresh,
      });
    }
    tasks.push(parsed);
  }
  if (whole < bytes.length) truncateSync(file, whole);
  return tasks;
}

/**
 * Shared by the bench/auto scripts (issue 14): running a checkout's `ftk` while the load average
 * is sampled, the environment of a record (date, commit, versions, load), JSONL records, and the
 * test accuracy of a saved model on a labelled folder (true class = the image's parent folder).
 */
import { execFileSync, spawn } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { PredictionsDocument } from '../../src/formats/prediction.js';
import type { PathResult, RunReport } from '../../src/formats/run_report.js';
import { LoadMonitor } from '../results_md.js';

/** The shared ImageNet MobileNet 0.25 weights every run of this benchmark uses. */
export const WEIGHTS = path.resolve('../shared/models/mobilenet_2_5_224_tf_no_top.h5');

/** The backbone flags of every `ftk auto` run here (the weights path absolute, so any checkout can run it). */
export const BACKBONE_ARGS: readonly string[] = Object.freeze(['--model', 'mobilenet', '--alpha', '0.25', '--weights', WEIGHTS, '--seed', '0']);

/** The same flags as written in the documents, relative to a checkout under /work/wt. */
export const BACKBONE_ARGS_SHOWN: readonly string[] = Object.freeze(['--model', 'mobilenet', '--alpha', '0.25', '--weights', '../shared/models/mobilenet_2_5_224_tf_no_top.h5', '--seed', '0']);

export interface CheckoutInfo {
  /** Absolute path of the checkout. */
  dir: string;
  commit: string;
  /** True when the checkout has uncommitted changes to tracked files. */
  dirty: boolean;
  /** ftk's version in the checkout's package.json. */
  ftk: string;
}

export function checkoutInfo(dir: string): CheckoutInfo {
  const abs = path.resolve(dir);
  if (!existsSync(path.join(abs, 'bin/ftk.js'))) throw new Error(`${abs} is not an ftk checkout (no bin/ftk.js)`);
  const git = (...args: string[]) => execFileSync('git', ['-C', abs, ...args], { encoding: 'utf8' }).trim();
  const pkg = JSON.parse(readFileSync(path.join(abs, 'package.json'), 'utf8')) as { version: string };
  return { dir: abs, commit: git('rev-parse', 'HEAD'), dirty: git('status', '--porcelain', '--untracked-files=no') !== '', ftk: pkg.version };
}

/** Date, machine and versions of a record. */
export function environment(): Record<string, unknown> {
  return {
    date: new Date().toISOString(),
    node: process.version,
    cpus: os.availableParallelism(),
    cpu: os.cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    platform: `${process.platform}-${process.arch}`,
  };
}

export interface LoadRecord {
  /** `os.loadavg()` (1, 5, 15 minutes) when the measurement started and ended. */
  start: number[];
  end: number[];
  /** Min and max of the 1-minute load average sampled every 20 s during it. */
  min: number;
  max: number;
  samples: number;
}

/** Samples the load average from construction until `stop()`. */
export class LoadWatch {
  private readonly start = roundAll(os.loadavg());
  private readonly monitor = new LoadMonitor();

  stop(): LoadRecord {
    const { min, max, samples } = this.monitor.range();
    return { start: this.start, end: roundAll(os.loadavg()), min: round2(min), max: round2(max), samples };
  }
}

const round2 = (x: number) => Number(x.toFixed(2));
const roundAll = (xs: number[]) => xs.map(round2);

export interface FtkRun {
  stdout: string;
  stderr: string;
  seconds: number;
}

/**
 * Runs `ftk <args>` of `checkout` (its TypeScript source through tsx: FTK_DEV=1, as
 * bench/common/ftk_cli.ts) asynchronously, so the load average keeps being sampled while it runs.
 * Stage lines on stderr are passed to `onStderr` as they come. Throws when it fails.
 */
export function runFtk(checkout: string, args: string[], env: NodeJS.ProcessEnv = {}, onStderr?: (text: string) => void): Promise<FtkRun> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(checkout, 'bin/ftk.js'), ...args], {
      cwd: checkout,
      env: { ...process.env, FTK_DEV: '1', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => {
      err.push(b);
      onStderr?.(b.toString('utf8'));
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const stdout = Buffer.concat(out).toString('utf8');
      const stderr = Buffer.concat(err).toString('utf8');
      const seconds = (performance.now() - t0) / 1000;
      if (code !== 0) reject(new Error(`ftk ${args.join(' ')} (in ${checkout}) failed (${code ?? signal}): ${stderr.slice(-2000)}`));
      else resolve({ stdout, stderr, seconds });
    });
  });
}

/** A stderr sink for `runFtk` that copies the child's lines to our stderr, each behind `prefix`. */
export function prefixLines(prefix: string): (text: string) => void {
  let atLineStart = true;
  return (text) => {
    const out = text.replace(/[^\n]*\n?/g, (line) => {
      if (line === '') return '';
      const withPrefix = atLineStart ? prefix + line : line;
      atLineStart = line.endsWith('\n');
      return withPrefix;
    });
    process.stderr.write(out);
  };
}

/** The command line as the documents show it: `ftk` for the binary, the shared weights relative. */
export function shownCommand(args: readonly string[]): string {
  return ['ftk', ...args.map((a) => (a === WEIGHTS ? '../shared/models/mobilenet_2_5_224_tf_no_top.h5' : a))]
    .map((a) => (/^[\w./:@=,+-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`))
    .join(' ');
}

export function readRecords<T = Record<string, any>>(file: string): T[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as T);
}

export function appendRecord(file: string, record: Record<string, unknown>): void {
  mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  appendFileSync(file, JSON.stringify(record) + '\n');
}

/** One path's cross-validated result as recorded here (no per-image predictions). */
export interface PathScore {
  path: string;
  meanAccuracy: number;
  ci95: [number, number];
  foldAccuracies: number[];
  elapsedMs?: number;
  params?: PathResult['params'];
  notes?: string[];
}

export function pathScores(run: RunReport): PathScore[] {
  return (run.paths ?? []).map((p) => ({
    path: p.path,
    meanAccuracy: p.meanAccuracy,
    ci95: p.ci95,
    foldAccuracies: p.foldAccuracies,
    ...(p.elapsedMs !== undefined ? { elapsedMs: Math.round(p.elapsedMs) } : {}),
    ...(p.params ? { params: p.params } : {}),
    ...(p.notes?.length ? { notes: p.notes } : {}),
  }));
}

export function readRun(runDir: string): RunReport {
  return JSON.parse(readFileSync(path.join(runDir, 'run.json'), 'utf8')) as RunReport;
}

export interface TestScore {
  /** Correct / scored; an image predicted unknown would count as wrong, but runs use --no-unknown. */
  accuracy: number;
  correct: number;
  /** Images predicted (failed ones are not scored, and counted in `failed`). */
  scored: number;
  failed: number;
  /** Accuracy of each true class (class-balanced accuracy is their mean). */
  perClass: Record<string, number>;
  balancedAccuracy: number;
}

/**
 * Test accuracy of a `ftk predict --json` document on images laid out as `<test dir>/<class>/<file>`:
 * the true class of each image is its parent folder's name. (`ftk predict` gives `accuracy` only for
 * features files, whose rows carry labels; for images the folder is the label.)
 */
export function scorePredictions(doc: PredictionsDocument): TestScore {
  const hits = new Map<string, [number, number]>();
  let correct = 0;
  for (const p of doc.predictions) {
    if (p.file === undefined) throw new Error('a prediction without a file: cannot tell its true class');
    const truth = path.basename(path.dirname(p.file));
    if (!doc.classes.includes(truth)) throw new Error(`${p.file}: its folder ${JSON.stringify(truth)} is not one of the model's classes [${doc.classes.join(', ')}]`);
    const ok = p.label === truth ? 1 : 0;
    correct += ok;
    const h = hits.get(truth) ?? [0, 0];
    hits.set(truth, [h[0] + ok, h[1] + 1]);
  }
  const scored = doc.predictions.length;
  if (scored === 0) throw new Error('no image was predicted');
  const perClass = Object.fromEntries([...hits].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([c, [k, n]]) => [c, k / n]));
  const rates = Object.values(perClass);
  return { accuracy: correct / scored, correct, scored, failed: doc.failed.length, perClass, balancedAccuracy: rates.reduce((s, x) => s + x, 0) / rates.length };
}

/** `ftk predict <model> <testDir> --json --no-unknown` of `checkout`, scored against the folder names. */
export async function testAccuracy(checkout: string, model: string, testDir: string, env: NodeJS.ProcessEnv = {}): Promise<TestScore & { command: string[]; seconds: number }> {
  const args = ['predict', model, testDir, '--json', '--no-unknown'];
  const r = await runFtk(checkout, args, env);
  return { ...scorePredictions(JSON.parse(r.stdout) as PredictionsDocument), command: args, seconds: Number(r.seconds.toFixed(1)) };
}

/** Images per class of a `<dir>/<class>/<file>` folder (class folders sorted by code point). */
export function countImages(dir: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const c of readdirSync(dir).sort()) out[c] = readdirSync(path.join(dir, c)).length;
  return out;
}

/**
 * Running the real `bin/ftk.js` as a child process (FTK_DEV=1: the TypeScript source through tsx),
 * for the tests that kill it or run several at once, and small fixtures of the shared photos.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, symlink } from 'node:fs/promises';
import path from 'node:path';

export const BIN = path.resolve('bin/ftk.js');
import { CATS_DOGS, needSharedData, SHARED_H5 } from './requires.js';

export { CATS_DOGS, SHARED_H5 };
/** Skip reason when the shared photos or weights are missing, else false (a failure in CI). */
export const noSharedData = needSharedData();

export interface FtkRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Wall time from spawn to exit, ms. */
  ms: number;
}

/** A started ftk process: its handle and the promise of its end. */
export interface FtkChild {
  child: ChildProcess;
  done: Promise<FtkRun>;
}

export function startFtk(args: string[], env: NodeJS.ProcessEnv): FtkChild {
  const started = performance.now();
  const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, FTK_DEV: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const done = new Promise<FtkRun>((resolve) => {
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr, ms: performance.now() - started }));
  });
  return { child, done };
}

/** Runs ftk to the end; throws with its stderr when it fails. */
export async function runFtk(args: string[], env: NodeJS.ProcessEnv): Promise<FtkRun> {
  const run = await startFtk(args, env).done;
  if (run.code !== 0) throw new Error(`ftk ${args.join(' ')} exited ${run.code ?? run.signal}:\n${run.stderr}`);
  return run;
}

/** `perClass` cats and `perClass` dogs of the shared photos, symlinked under `root` (one folder per class). */
export async function catsDogsSubset(root: string, perClass: number): Promise<string> {
  for (const cls of ['cats', 'dogs']) {
    await mkdir(path.join(root, cls), { recursive: true });
    const names = (await readdir(path.join(CATS_DOGS, cls))).sort().slice(0, perClass);
    for (const name of names) await symlink(path.join(CATS_DOGS, cls, name), path.join(root, cls, name));
  }
  return root;
}

export async function sha256Of(file: string): Promise<string> {
  return createHash('sha256').update(await readFile(file)).digest('hex');
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Shared by the benchmarks that run the real CLI: a large dataset made of symlinks to the shared
 * photos, and one `ftk` run with its peak RSS (whole process, worker threads included) measured
 * by GNU time. (bench/extract/vs_pytorch.ts has its own copies of both, written before this
 * module; they do the same.)
 */
import { spawnSync } from 'node:child_process';
import { mkdir, symlink } from 'node:fs/promises';
import path from 'node:path';
import type { Dataset } from '../../src/data/dataset.js';

/** `repeat` copies of every image of `dataset` as symlinks under `root` (the same photos, new names). */
export async function repeatedDataset(dataset: Dataset, root: string, repeat: number): Promise<string> {
  for (const e of dataset.entries) {
    const dir = path.join(root, e.className);
    await mkdir(dir, { recursive: true });
    for (let r = 0; r < repeat; r++) await symlink(e.path, path.join(dir, `r${r}_${path.basename(e.file)}`));
  }
  return root;
}

export interface CliRun {
  /** Peak resident set size of the process, MB (GNU time's %M). */
  rssMb: number;
  seconds: number;
  stdout: string;
  stderr: string;
}

/** Runs `ftk <args>` (TypeScript source through tsx) under /usr/bin/time; throws if it fails. */
export function ftkCli(args: string[], env: NodeJS.ProcessEnv): CliRun {
  const t0 = performance.now();
  const r = spawnSync('/usr/bin/time', ['-f', 'MAXRSS %M', process.execPath, path.resolve('bin/ftk.js'), ...args], {
    env: { ...process.env, FTK_DEV: '1', ...env },
    encoding: 'utf8',
    maxBuffer: 1 << 28,
  });
  if (r.status !== 0) throw new Error(`ftk ${args.join(' ')} failed (${r.status ?? r.signal}): ${r.stderr}`);
  const kb = Number(/MAXRSS (\d+)/.exec(r.stderr)![1]);
  return { rssMb: kb / 1024, seconds: (performance.now() - t0) / 1000, stdout: r.stdout, stderr: r.stderr };
}

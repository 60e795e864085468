/**
 * bench/RESULTS.md is written by several scripts, each owning one section between
 * `<!-- name:start -->` and `<!-- name:end -->`; a script replaces its own section and leaves the
 * others as they are, so the file can be rebuilt piece by piece.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const RESULTS_MD = path.resolve('bench/RESULTS.md');

const HEADER = `# ftk benchmarks: measured results

Written by the scripts in \`bench/\` (each owns one section below and rewrites only it). Every
number here was measured by the command given with it; nothing is copied from elsewhere except the
published reference points, which are marked as such.
`;

/** Replaces (or appends) section `name` of bench/RESULTS.md with `markdown`. */
export function writeResultsSection(name: string, markdown: string, file = RESULTS_MD): void {
  const start = `<!-- ${name}:start -->`;
  const end = `<!-- ${name}:end -->`;
  const block = `${start}\n${markdown.trim()}\n${end}`;
  const text = existsSync(file) ? readFileSync(file, 'utf8') : HEADER;
  const i = text.indexOf(start);
  const j = text.indexOf(end);
  const next = i >= 0 && j > i ? text.slice(0, i) + block + text.slice(j + end.length) : `${text.trimEnd()}\n\n${block}\n`;
  writeFileSync(file, next);
}

/** The 1-minute load average, sampled every 20 s from `start` on, so a table can say how busy the machine was. */
export class LoadMonitor {
  private readonly samples: number[] = [os.loadavg()[0]];
  private readonly timer: NodeJS.Timeout;

  constructor(intervalMs = 20_000) {
    this.timer = setInterval(() => this.samples.push(os.loadavg()[0]), intervalMs);
    this.timer.unref();
  }

  /** min and max of the samples so far (and now). */
  range(): { min: number; max: number; samples: number } {
    const all = [...this.samples, os.loadavg()[0]];
    return { min: Math.min(...all), max: Math.max(...all), samples: all.length };
  }
}

/**
 * One line describing the machine a measurement ran on, and how busy it was while it ran: the
 * sampled 1-minute load average against the core count says whether other jobs shared the cores.
 */
export function machineLine(backend: string, load: LoadMonitor): string {
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  const cores = os.availableParallelism();
  const { min, max } = load.range();
  const busy = max > cores + 0.5 ? `other jobs shared the ${cores} cores at times (timings are slower and noisier than on an idle machine)` : `no more runnable work than the ${cores} cores most of the time`;
  return `${cpu}, ${cores} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${process.platform}-${process.arch}, Node ${process.version}, tfjs backend ${backend}; 1-minute load average ${min.toFixed(1)} to ${max.toFixed(1)} during the run: ${busy}`;
}

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

/** One line describing the machine a measurement ran on. */
export function machineLine(backend: string): string {
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  const load = os.loadavg().map((x) => x.toFixed(1)).join(', ');
  return `${cpu}, ${os.availableParallelism()} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${process.platform}-${process.arch}, Node ${process.version}, tfjs backend ${backend}; load average at the end ${load} (the 2 cores were shared with other jobs: timings are noisy, slower than on an idle machine)`;
}

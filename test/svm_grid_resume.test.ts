/**
 * The grid search's results log and resume (libsvm grid.py's -out / -resume): a resumed search
 * returns the same table, bit for bit, as an uninterrupted one; a torn last line is dropped; a log
 * of other data or options is refused; another grid reuses the results it shares.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { Rng } from '../src/data/random.js';
import { OptionsError } from '../src/errors.js';
import { gridSearch } from '../src/classify/search.js';
import { parseLog2Range } from '../src/cli/commands/svm.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'ftk-grid-resume-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function problem(n: number, d: number, seed: number) {
  const rng = new Rng(seed);
  const y = Array.from({ length: n }, (_, i) => i % 3);
  const data = new Float32Array(n * d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) data[i * d + j] = rng.normal() + (j === y[i] ? 1.2 : 0);
  return { X: { data, rows: n, cols: d }, y };
}

const GRID = { log2C: [-1, 1, 3, 5], log2Gamma: [-1, -3, -5], folds: 4, seed: 2, workers: 1 };
const { X, y } = problem(90, 6, 1);

test('a search resumed from a log cut after some tasks (torn last line) returns the same table as an uninterrupted one', async () => {
  const reference = await gridSearch(X, y, {}, GRID);
  const log = path.join(dir, 'full.jsonl');
  const logged = await gridSearch(X, y, {}, { ...GRID, log });
  assert.deepEqual(logged.table, reference.table);
  assert.equal(logged.resumedTasks, 0);
  const lines = readFileSync(log, 'utf8').split('\n');
  assert.equal(lines.length, 1 + 4 * 3 + 1, 'header, one line per (fold, gamma), final newline');
  // As a kill leaves it: 5 whole task lines and half of the 6th.
  const cut = path.join(dir, 'cut.jsonl');
  writeFileSync(cut, lines.slice(0, 6).join('\n') + '\n' + lines[6].slice(0, 40));
  const resumed = await gridSearch(X, y, {}, { ...GRID, log: cut, resume: true });
  assert.equal(resumed.resumedTasks, 5);
  assert.deepEqual(resumed.table, reference.table, 'identical table, bit for bit');
  assert.deepEqual(resumed.best, reference.best);
  const rewritten = readFileSync(cut, 'utf8').split('\n').filter(Boolean);
  assert.equal(rewritten.length, 1 + 12, 'the torn line was cut off, the 7 missing tasks appended');
  rewritten.forEach((line) => JSON.parse(line));
  // Everything logged: nothing is computed again.
  const again = await gridSearch(X, y, {}, { ...GRID, log: cut, resume: true });
  assert.equal(again.resumedTasks, 12);
  assert.deepEqual(again.table, reference.table);
});

test('resume refuses a log of other data or options, and a damaged log; without resume the log is replaced', async () => {
  const log = path.join(dir, 'other.jsonl');
  await gridSearch(X, y, {}, { ...GRID, log });
  const mismatch = (e: unknown) => e instanceof OptionsError && e.code === 'GRID_LOG_MISMATCH' && e.message.includes(log) && /without --resume/.test(e.suggestion ?? '');
  await assert.rejects(gridSearch(X, y, {}, { ...GRID, seed: 3, log, resume: true }), mismatch);
  await assert.rejects(gridSearch(X, y, { scaler: 'l2' }, { ...GRID, log, resume: true }), mismatch);
  await assert.rejects(gridSearch(problem(90, 6, 2).X, y, {}, { ...GRID, log, resume: true }), mismatch);
  const damaged = path.join(dir, 'damaged.jsonl');
  const lines = readFileSync(log, 'utf8').split('\n');
  writeFileSync(damaged, [lines[0], lines[1], '{"split": "x"}', lines[2], ''].join('\n'));
  await assert.rejects(gridSearch(X, y, {}, { ...GRID, log: damaged, resume: true }), (e: unknown) => e instanceof OptionsError && e.code === 'GRID_LOG_INVALID' && /line 3/.test(e.message));
  writeFileSync(path.join(dir, 'notalog.jsonl'), 'hello\n');
  await assert.rejects(gridSearch(X, y, {}, { ...GRID, log: path.join(dir, 'notalog.jsonl'), resume: true }), (e: unknown) => e instanceof OptionsError && /not an ftk grid search log/.test(e.message));
  await assert.rejects(gridSearch(X, y, {}, { ...GRID, resume: true }), (e: unknown) => e instanceof OptionsError && /resume needs the log/.test(e.message));
  // No resume: a fresh log replaces the old one (workers do not change the key).
  const fresh = await gridSearch(X, y, {}, { ...GRID, seed: 3, log, workers: 2 });
  assert.equal(fresh.resumedTasks, 0);
  const resumed = await gridSearch(X, y, {}, { ...GRID, seed: 3, log, resume: true });
  assert.equal(resumed.resumedTasks, 12);
  assert.deepEqual(resumed.table, fresh.table);
});

test('a finer grid reuses the (fold, gamma, C) results it shares with the logged one (grid.py -resume)', async () => {
  const log = path.join(dir, 'refine.jsonl');
  await gridSearch(X, y, {}, { ...GRID, log });
  const finer = { ...GRID, log2C: [-1, 0, 1, 2, 3, 4, 5], log2Gamma: [-1, -2, -3, -4, -5] };
  const reference = await gridSearch(X, y, {}, finer);
  // Shared gammas -1, -3, -5 lack C = 2^0, 2^2, 2^4: every task runs again, results equal.
  const refined = await gridSearch(X, y, {}, { ...finer, log, resume: true });
  assert.equal(refined.resumedTasks, 0);
  assert.deepEqual(refined.table, reference.table);
  // A subset of the logged grid is entirely reused.
  const subset = { ...GRID, log2C: [1, 3], log2Gamma: [-3] };
  const reused = await gridSearch(X, y, {}, { ...subset, log, resume: true });
  assert.equal(reused.resumedTasks, 4);
  assert.deepEqual(reused.table, (await gridSearch(X, y, {}, subset)).table);
});

test('--log2c / --log2gamma parse as libsvm grid.py ranges', () => {
  assert.deepEqual(parseLog2Range('--log2c')('-5,15,2'), [-5, -3, -1, 1, 3, 5, 7, 9, 11, 13, 15]);
  assert.deepEqual(parseLog2Range('--log2gamma')('3,-15,-2'), [3, 1, -1, -3, -5, -7, -9, -11, -13, -15]);
  assert.deepEqual(parseLog2Range('--log2c')('0,1,0.5'), [0, 0.5, 1]);
  assert.throws(() => parseLog2Range('--log2c')('1,5'), /--log2c must be begin,end,step .*three numbers/);
  assert.throws(() => parseLog2Range('--log2c')('1,5,-1'), /a step that goes from begin towards end/);
  assert.throws(() => parseLog2Range('--log2c')('1,5,0'), /a step that goes from begin towards end/);
});

/**
 * The SVM's sample limit, measured: an exact-kernel SVM (libsvm-js, precomputed kernel) is fitted
 * on exactly `maxPrecomputedSamples(cacheSize)` rows (the most `assertFitsHeap` lets through), so
 * the number the README states is one that was seen to fit libsvm-js' 2 GiB heap, with the heap's
 * size after the fit. Synthetic seeded data (3 classes, 8 features; the heap need depends on the
 * row count only).
 *
 *   npx tsx bench/svm/limit.ts [--cache-size 100]
 *
 * Appends one JSON line to bench/svm/limit.jsonl.
 */
import { appendFileSync } from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { Libsvm, LIBSVM_HEAP_LIMIT, maxPrecomputedSamples } from '../../src/classify/libsvm.js';
import { SvmClassifier } from '../../src/classify/svm.js';
import { Rng } from '../../src/data/random.js';

const { values } = parseArgs({ options: { 'cache-size': { type: 'string', default: '100' } } });
const cacheSize = Number(values['cache-size']);
const m = maxPrecomputedSamples(cacheSize);
const d = 8;
const rng = new Rng(0);
const y = Array.from({ length: m }, (_, i) => i % 3);
const X = Float32Array.from({ length: m * d }, (_, j) => rng.normal() + (y[Math.floor(j / d)] === j % 3 ? 1 : 0));
const t0 = performance.now();
const clf = await new SvmClassifier({ kernel: 'linear', cacheSize }).fit({ data: X, rows: m, cols: d }, y);
const seconds = (performance.now() - t0) / 1000;
const lib = await Libsvm.load();
const heapBytes = (lib as unknown as { mod: { HEAP32: Int32Array } }).mod.HEAP32.buffer.byteLength;
const record = {
  date: new Date().toISOString(),
  cacheSizeMB: cacheSize,
  samples: m,
  fitted: true,
  supportVectors: clf.support_!.length,
  trainAccuracy: clf.score({ data: X, rows: m, cols: d }, y),
  heapBytesAfter: heapBytes,
  heapLimitBytes: LIBSVM_HEAP_LIMIT,
  seconds,
  loadavg: os.loadavg(),
  node: process.version,
};
clf.dispose();
appendFileSync('bench/svm/limit.jsonl', JSON.stringify(record) + '\n');
console.log(JSON.stringify(record));

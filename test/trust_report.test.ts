/** The report's trust sections: reliability diagram, unknown-score histogram with its threshold, "what more data would buy". */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { validateRunReport, type RunReport } from '../src/formats/run_report.js';
import { scoreHistogram } from '../src/formats/trust.js';
import { deriveReport } from '../src/report/derive.js';
import { renderHtml } from '../src/report/html.js';
import { renderMarkdown } from '../src/report/markdown.js';
import { moreDataEstimates } from '../src/report/trust.js';
import { calibrate } from '../src/trust/calibrate.js';

const full = validateRunReport(JSON.parse(await readFile(path.resolve('test/fixtures/report/full.json'), 'utf8')), 'full.json') as RunReport;
const inputs = (run: RunReport) => ({ run, derived: deriveReport(run), generatedAt: '2025-01-01T00:00:00Z', ftkVersion: '0.0.0-test' });

test('moreDataEstimates: gain per doubling from the last two points; saturated below 0.5 points', () => {
  const e = moreDataEstimates([
    { path: 'svm', points: [{ fraction: 0.25, trainSize: 100, meanAccuracy: 0.8 }, { fraction: 0.5, trainSize: 200, meanAccuracy: 0.85 }, { fraction: 1, trainSize: 400, meanAccuracy: 0.88 }] },
    { path: 'finetune', points: [{ fraction: 0.5, trainSize: 200, meanAccuracy: 0.9 }, { fraction: 1, trainSize: 800, meanAccuracy: 0.904 }] },
    { path: 'scratch', points: [{ fraction: 1, trainSize: 400, meanAccuracy: 0.7 }] },
  ]);
  assert.equal(e.length, 2, 'one point is not a curve');
  assert.ok(Math.abs(e[0].gainPerDoubling - 0.03) < 1e-12);
  assert.equal(e[0].nextSize, 800);
  assert.ok(Math.abs(e[0].nextAccuracy - 0.91) < 1e-12);
  assert.equal(e[0].saturated, false);
  assert.ok(Math.abs(e[1].gainPerDoubling - 0.002) < 1e-12, 'two doublings between 200 and 800');
  assert.equal(e[1].saturated, true);
});

test('a run record with trust renders the reliability diagram and the score histogram, with titles and descriptions', () => {
  const run = JSON.parse(JSON.stringify(full)) as RunReport;
  const probs = Array.from({ length: 200 }, (_, i) => (i % 2 ? [0.95, 0.05] : [0.05, 0.95]));
  const labels = probs.map((_, i) => (i % 5 === 0 ? i % 2 : 1 - (i % 2))); // 80% right at 95% confidence: over-confident
  const calibration = calibrate(probs, labels);
  const scores = Array.from({ length: 200 }, (_, i) => i / 200);
  run.trust = { calibration: [{ path: 'svm', calibration }], unknown: { path: 'svm', method: 'knn', threshold: 0.95, rate: 0.05, ...scoreHistogram(scores) } };
  validateRunReport(JSON.parse(JSON.stringify(run)), 'run.json');
  const page = renderHtml(inputs(run));
  for (const id of ['reliability-svm', 'unknown-scores']) assert.match(page, new RegExp(`<title id="${id}-title">[^<]+</title><desc id="${id}-desc">[^<]+</desc>`), id);
  assert.ok(page.includes('<section id="trust"') && page.includes('<section id="more-data"'));
  assert.ok(page.includes(`Temperature ${calibration.temperature.toFixed(3)}`) && page.includes('they were over-confident'));
  assert.ok(page.includes('(threshold inside: partly unknown)'), 'the bin holding the threshold is marked');
  assert.ok(!/NaN|undefined|Infinity|\[object Object\]/.test(page));
  const text = renderMarkdown(inputs(run));
  assert.match(text, /## Calibration and unknown images/);
  assert.match(text, /## What more data would buy/);
  assert.match(text, /threshold 0\.9500/);
  // Without trust: a one-line note, no failure.
  assert.match(renderHtml(inputs(full)), /No calibration or unknown detector was recorded in this run\./);
  const bad = JSON.parse(JSON.stringify(run));
  bad.trust.unknown.threshold = 'high';
  assert.throws(() => validateRunReport(bad, 'run.json'), /trust\.unknown/);
});

/**
 * Every figure in README.md and bench/RESULTS.md names the committed record it came from
 * (bench/claims.json), and the check fails when a record is removed or a figure is added without one.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { checkClaims, figuresOf, recordHolds, type Claim } from './helpers/claims.js';

const DOCS = ['README.md', 'bench/RESULTS.md'];
const claims = (JSON.parse(readFileSync('bench/claims.json', 'utf8')) as { claims: Claim[] }).claims;

test('every figure of README.md and bench/RESULTS.md is listed with its record, and every record exists and holds its values', () => {
  const problems = checkClaims('.', claims, DOCS);
  assert.deepEqual(problems, [], `${problems.length} problems:\n${problems.join('\n')}`);
});

test('the check fails when a record is removed', () => {
  const measured = claims.filter((c) => c.kind === 'measured');
  assert.ok(measured.length >= 10, `${measured.length} measured claims`);
  for (const c of measured) {
    const gone = c.records![0];
    const problems = checkClaims('.', claims, DOCS, (f) => f !== gone && f.length > 0 && readable(f));
    assert.ok(problems.some((p) => p.includes(`record ${gone} does not exist`)), `removing ${gone} is noticed`);
  }
});

test('the check fails for a figure added without a claim, and for a value no record holds', () => {
  const extra: Claim = { doc: 'README.md', text: 'ftk: fine-tuning kit', kind: 'measured', records: ['bench/finetune/results.jsonl'], script: 'bench/finetune/cats_dogs.ts', values: ['99.99'] };
  const problems = checkClaims('.', [...claims, extra], DOCS);
  assert.ok(problems.some((p) => p.includes('value 99.99 is not in the claim')));
  const sample = 'took 12.5 s and 3x less, 94.2% of 1,024 MB';
  assert.deepEqual(
    figuresOf(sample),
    ['12.5 s', '3x', '94.2%', '1,024 MB'].map((figure) => ({ figure, at: sample.indexOf(figure) })),
  );
  // A claim whose record does not hold its value: the SVM figures are not in the fine-tuning record.
  const wrongRecord: Claim = { doc: 'README.md', text: 'SVM reaches 94.55% in nested 5-fold CV', kind: 'measured', records: ['bench/onnx/results.jsonl'], script: 'bench/extract/accuracy.ts', values: ['94.55'] };
  assert.ok(checkClaims('.', [...claims, wrongRecord], DOCS).some((p) => p.includes('no record holds 94.55')));
  assert.ok(recordHolds('{"accuracy":0.9475}', '94.75'));
  assert.ok(recordHolds('prefixSeconds 147.74', '148'));
  assert.ok(!recordHolds('prefixSeconds 147.74', '163'));
});

function readable(file: string): boolean {
  try {
    readFileSync(file);
    return true;
  } catch {
    return false;
  }
}

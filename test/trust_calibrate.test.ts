/** src/trust/calibrate.ts: ECE and reliability bins on hand-checked fixtures; temperature scaling fixes a deliberately over-confident model. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { applyCalibration, calibrate, expectedCalibrationError, fitTemperature, reliability } from '../src/trust/calibrate.js';
import { validateCalibrationJson } from '../src/formats/trust.js';
import { Rng } from '../src/data/random.js';

test('ECE by hand: 15 equal-width bins of the top probability, |accuracy - confidence| weighted by bin share', () => {
  // Rows: confidence 0.9 (right), 0.9 (wrong), 0.6 (right), 0.6 (right). Bin of 0.9 = 14th (0.8667, 0.9333]; 0.6 = 9th (0.5333, 0.6].
  const probs = [
    [0.9, 0.1],
    [0.1, 0.9],
    [0.6, 0.4],
    [0.4, 0.6],
  ];
  const labels = [0, 0, 0, 1];
  const r = reliability(probs, labels);
  // bin 0.9: acc 0.5, conf 0.9 -> 0.4 x 2/4; bin 0.6: acc 1, conf 0.6 -> 0.4 x 2/4.
  assert.ok(Math.abs(r.ece - 0.4) < 1e-12, String(r.ece));
  assert.equal(r.count[13], 2);
  assert.equal(r.count[8], 2);
  assert.equal(r.count.reduce((a, b) => a + b, 0), 4);
  assert.equal(r.accuracy[0], null);
  assert.ok(Math.abs(r.nll - -(Math.log(0.9) + Math.log(0.1) + Math.log(0.6) + Math.log(0.6)) / 4) < 1e-12);
  // A confidence of exactly 1/15 falls in the first bin, 1 in the last.
  assert.equal(reliability([[1, 0]], [0]).count[14], 1);
  assert.equal(expectedCalibrationError([[1, 0]], [0]), 0);
});

/** A 3-class problem whose true P(y | x) is known: logits z, y drawn from softmax(z). */
function synthetic(n: number, seed: number) {
  const rng = new Rng(seed);
  const logits: number[][] = [];
  const labels: number[] = [];
  for (let i = 0; i < n; i++) {
    const z = [rng.normal() * 1.5, rng.normal() * 1.5, rng.normal() * 1.5];
    const e = z.map(Math.exp);
    const s = e[0] + e[1] + e[2];
    const u = rng.next();
    labels.push(u < e[0] / s ? 0 : u < (e[0] + e[1]) / s ? 1 : 2);
    logits.push(z);
  }
  const softmax = (z: number[], t: number) => {
    const e = z.map((v) => Math.exp(v / t));
    const s = e.reduce((a, b) => a + b, 0);
    return e.map((v) => v / s);
  };
  return { labels, honest: logits.map((z) => softmax(z, 1)), overconfident: logits.map((z) => softmax(z, 1 / 3)) };
}

test('calibration improves a deliberately over-confident model (logits x3): T near 3, ECE and NLL down on fresh data', () => {
  const fit = synthetic(3000, 1);
  const cal = calibrate(fit.overconfident, fit.labels);
  assert.equal(cal.method, 'temperature');
  assert.ok(Math.abs(cal.temperature - 3) < 0.3, `temperature ${cal.temperature}`);
  assert.ok(cal.after.ece < cal.before.ece / 3, `${cal.before.ece} -> ${cal.after.ece}`);
  // On data the map never saw.
  const fresh = synthetic(3000, 2);
  const before = reliability(fresh.overconfident, fresh.labels);
  const after = reliability(applyCalibration(cal, fresh.overconfident), fresh.labels);
  assert.ok(before.ece > 0.1, `over-confident ECE ${before.ece}`);
  assert.ok(after.ece < 0.03, `calibrated ECE ${after.ece}`);
  assert.ok(after.nll < before.nll);
  // The argmax never moves.
  const argmax = (p: ArrayLike<number>) => Array.from(p).indexOf(Math.max(...Array.from(p)));
  assert.deepEqual(applyCalibration(cal, fresh.overconfident).map(argmax), fresh.overconfident.map(argmax));
  // And the result is valid plain JSON a model file can carry.
  assert.deepEqual(validateCalibrationJson(JSON.parse(JSON.stringify(cal)), 'x.json'), cal);
});

test('an honest model keeps T about 1; too few samples or method none leave probabilities unchanged', () => {
  const d = synthetic(3000, 3);
  const T = fitTemperature(d.honest, d.labels);
  assert.ok(Math.abs(T - 1) < 0.1, `T=${T}`);
  const few = calibrate(d.overconfident.slice(0, 10), d.labels.slice(0, 10));
  assert.equal(few.method, 'none');
  assert.equal(few.temperature, 1);
  const none = calibrate(d.overconfident, d.labels, { method: 'none' });
  assert.equal(none.method, 'none');
  assert.deepEqual(applyCalibration(none, [[0.7, 0.2, 0.1]]).map((r) => Array.from(r)), [[0.7, 0.2, 0.1]]);
});

test('bad input names what is wrong', () => {
  assert.throws(() => reliability([[0.5, 0.5]], [0, 1]), { code: 'CALIBRATION_SHAPE' });
  assert.throws(() => reliability([[0.5, 0.5]], [2]), { code: 'CALIBRATION_BAD_LABEL' });
  assert.throws(() => calibrate([[0.5, 0.5]], [0], { method: 'isotonic' as 'none' }), { code: 'OPTIONS_BAD_VALUE' });
  assert.throws(() => validateCalibrationJson({ method: 'temperature', temperature: -1 }, 'm.json'), (e: Error) => /m\.json/.test(e.message));
});

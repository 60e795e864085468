/**
 * A graph ftk did not write: a small CNN exported by PyTorch's own torch.onnx.export
 * (test/fixtures/onnx/make_torch_cnn.py, Debian's PyTorch 1.13, opset 13: NCHW input with dynamic
 * batch, height and width; PyTorch's node names; Conv with folded BatchNorm, depthwise groups, a
 * residual Add, ReLU6 as Clip, GlobalAveragePool, Flatten, Gemm). ftk's `onnx:` path must list its
 * tensors, cut it at an intermediate tensor, run it NHWC as ftk feeds every backbone, and give
 * PyTorch's own outputs (stored in torch_cnn.json by the same script).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { describeOnnxModel, OnnxBackboneEngine, resolveOnnxModel } from '../src/models/onnx_backbone.js';
import { tempHome } from './helpers/home.js';

await tempHome('ftk-onnx-pytorch-');
const FILE = path.resolve('test/fixtures/onnx/torch_cnn.onnx');
const ref = JSON.parse(readFileSync(path.resolve('test/fixtures/onnx/torch_cnn.json'), 'utf8')) as {
  size: number;
  batch: number;
  bottleneck: string;
  bottleneckShape: number[];
  pooled: number[][];
  logits: number[][];
};

/** The input make_torch_cnn.py fed PyTorch, in ftk's NHWC layout: x = sin(0.37 * NHWC index). */
function nhwcInput(): Float32Array {
  const x = new Float32Array(ref.batch * ref.size * ref.size * 3);
  for (let i = 0; i < x.length; i++) x[i] = Math.sin(0.37 * i);
  return x;
}

/** max |a - b| over max |b|, and the largest elementwise excess over atol relative to |b|. */
function compare(actual: Float32Array, expected: number[][]): { normwise: number; maxAbs: number } {
  const flat = expected.flat();
  assert.equal(actual.length, flat.length, 'output size');
  let maxDiff = 0;
  let maxRef = 0;
  flat.forEach((e, i) => {
    maxDiff = Math.max(maxDiff, Math.abs(actual[i] - e));
    maxRef = Math.max(maxRef, Math.abs(e));
  });
  assert.ok(maxRef > 1e-2, `reference outputs are not degenerate (max ${maxRef})`);
  return { normwise: maxDiff / maxRef, maxAbs: maxDiff };
}

test('ftk info lists the PyTorch graph: NCHW input with dynamic size, its tensors by PyTorch names with shapes', async () => {
  const listing = await describeOnnxModel(FILE, { inputSize: ref.size });
  assert.match(listing.producer, /^pytorch /);
  assert.equal(listing.opset, 13);
  assert.equal(listing.input.layout, 'nchw');
  assert.equal(listing.input.size, null, 'height and width are dynamic');
  const bottleneck = listing.tensors.find((t) => t.name === ref.bottleneck);
  assert.ok(bottleneck, `${ref.bottleneck} is listed among ${listing.tensors.map((t) => t.name).join(', ')}`);
  assert.deepEqual(bottleneck.shape, [1, ...ref.bottleneckShape], 'shape measured on one image');
  assert.deepEqual(listing.outputs, ['logits']);
});

for (const [what, layer, pooling] of [
  ['an intermediate 4-D tensor, average-pooled', ref.bottleneck, 'avg'],
  ['the graph output (logits)', 'logits', 'avg'],
] as const) {
  test(`features at ${what} equal PyTorch's within 1e-5 normwise`, async () => {
    const info = await resolveOnnxModel(FILE, { layer, pooling, inputSize: ref.size, preprocess: { mean: [0, 0, 0], std: [1, 1, 1], scale: 1 } });
    const engine = await OnnxBackboneEngine.open({ ...info, fingerprint: 'test' }, { threads: 1 });
    try {
      const out = await engine.run(nhwcInput(), ref.batch, ref.size, ref.size);
      const r = compare(out, layer === 'logits' ? ref.logits : ref.pooled);
      // Measured 2026-12-02: normwise ~1e-7 (float32 summation order of two runtimes).
      assert.ok(r.normwise <= 1e-5, `max |ftk - torch| / max |torch| = ${r.normwise.toExponential(2)} (max abs ${r.maxAbs.toExponential(2)})`);
    } finally {
      engine.dispose();
    }
  });
}

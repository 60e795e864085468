/** The model zoo, driven by the registry: every architecture builds with Keras' parameter counts. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import type { OptionsError } from '../src/errors.js';
import { getModelSpec, MODEL_NAMES, MODELS } from '../src/models/registry.js';
import type { ModelName } from '../src/models/types.js';
import { selectBackend } from '../src/runtime/backend.js';

await selectBackend({ backend: 'wasm' });

/** Keras' `model.count_params()` with include_top=True, 1000 classes, default size. */
const KERAS_PARAMS_WITH_TOP: Record<ModelName, number> = {
  vgg16: 138_357_544,
  vgg19: 143_667_240,
  resnet50: 25_636_712,
  inception_v3: 23_851_784,
  mobilenet: 4_253_864,
  mobilenet_v2: 3_538_984,
};

test('the registry holds the six Keras Applications architectures and is frozen', () => {
  assert.deepEqual([...MODEL_NAMES].sort(), Object.keys(KERAS_PARAMS_WITH_TOP).sort());
  assert.ok(Object.isFrozen(MODELS));
  assert.equal(getModelSpec('MobileNetV2').name, 'mobilenet_v2');
  assert.throws(() => getModelSpec('alexnet'), (err: OptionsError) => /Unknown model "alexnet"/.test(err.message) && /Must be one of \[mobilenet, mobilenet_v2/.test(err.suggestion ?? ''));
});

for (const name of MODEL_NAMES) {
  test(`${name}: includeTop=true has Keras' ${KERAS_PARAMS_WITH_TOP[name].toLocaleString('en')} parameters; no top + avg pooling gives featureSize`, () => {
    const spec = MODELS[name];
    const before = tf.memory().numTensors;
    const full = spec.build({ includeTop: true });
    assert.equal(full.countParams(), KERAS_PARAMS_WITH_TOP[name]);
    assert.deepEqual(full.outputs[0].shape, [null, 1000]);
    full.dispose();
    const size = Math.max(spec.minInputSize, 75);
    const base = spec.build({ includeTop: false, pooling: 'avg', inputShape: [size, size, 3] });
    assert.deepEqual(base.outputs[0].shape, [null, spec.featureSize()]);
    base.dispose();
    assert.equal(tf.memory().numTensors, before, 'no tensors leak');
  });
}

test('MobileNet(alpha=0.25) without top has 218,544 parameters (the shared Keras weight file)', () => {
  const m = MODELS.mobilenet.build({ alpha: 0.25, includeTop: false });
  assert.equal(m.countParams(), 218_544);
  assert.equal(m.layers.at(-1)!.name, 'conv_pw_13_relu');
  m.dispose();
});

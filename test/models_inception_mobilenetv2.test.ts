/**
 * InceptionV3 and MobileNetV2 with random weights: Keras' parameter counts, layer names (so the
 * HDF5 weight files can be matched by name), BatchNorm/ReLU6/padding settings, output shapes
 * with and without the top, a finite forward pass, the registry entries and option errors.
 * InceptionV3 (~24 M parameters) is built only a few times and every model is disposed.
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { selectBackend } from '../src/runtime/backend.js';
import * as tf from '@tensorflow/tfjs';
import { OptionsError } from '../src/errors.js';
import { InceptionV3, inceptionV3Spec } from '../src/models/inception_v3.js';
import {
  MOBILENET_V2_ALPHAS,
  MobileNetV2,
  makeDivisible,
  mobilenetV2FeatureSize,
  mobilenetV2Spec,
} from '../src/models/mobilenet_v2.js';

before(async () => {
  await selectBackend({ backend: 'wasm' });
});

/** Builds, hands the model to `fn`, disposes it whatever happens. */
async function withModel<T>(build: () => tf.LayersModel, fn: (m: tf.LayersModel) => T | Promise<T>): Promise<T> {
  const model = build();
  try {
    return await fn(model);
  } finally {
    model.dispose();
  }
}

function layerNames(model: tf.LayersModel): Set<string> {
  return new Set(model.layers.map((l) => l.name));
}

/** Short weight names of a layer ('kernel', 'beta', …). */
function weightNames(model: tf.LayersModel, layer: string): string[] {
  return model.getLayer(layer).weights.map((w) => w.originalName.slice(w.originalName.lastIndexOf('/') + 1));
}

function predictFinite(model: tf.LayersModel, shape: number[]): { shape: number[]; values: Float32Array } {
  return tf.tidy(() => {
    const x = tf.randomUniform(shape, -1, 1, 'float32', 7);
    const y = model.predict(x) as tf.Tensor;
    const values = y.dataSync() as Float32Array;
    return { shape: y.shape, values: Float32Array.from(values) };
  });
}

describe('InceptionV3', () => {
  test('with the top: Keras count_params 23,851,784, 313 layers, 189 weighted layers, [null, 1000] softmax', async () => {
    await withModel(
      () => InceptionV3(),
      (m) => {
        assert.equal(m.name, 'inception_v3');
        assert.equal(m.countParams(), 23_851_784);
        assert.equal(m.layers.length, 313);
        // 94 conv2d + 94 batch_normalization + predictions: the layer groups of Keras' HDF5 file.
        assert.equal(m.layers.filter((l) => l.weights.length > 0).length, 189);
        assert.deepEqual(m.outputs[0].shape, [null, 1000]);
        assert.equal((m.getLayer('predictions').getConfig() as { activation: string }).activation, 'softmax');
        assert.deepEqual(m.getLayer('predictions').weights[0].shape, [2048, 1000]);
        // A real 299x299 forward pass: finite probabilities summing to 1.
        const { shape, values } = predictFinite(m, [1, 299, 299, 3]);
        assert.deepEqual(shape, [1, 1000]);
        assert.ok(values.every(Number.isFinite));
        assert.ok(Math.abs(values.reduce((a, b) => a + b, 0) - 1) < 1e-4);
      },
    );
  });

  test('without the top: 21,802,784 parameters, 311 layers, 8x8x2048 map at 299', async () => {
    await withModel(
      () => InceptionV3({ includeTop: false }),
      (m) => {
        assert.equal(m.countParams(), 21_802_784);
        assert.equal(m.layers.length, 311);
        assert.deepEqual(m.outputs[0].shape, [null, 8, 8, 2048]);
        assert.equal(m.layers[m.layers.length - 1].name, 'mixed10');
        const { shape, values } = predictFinite(m, [1, 299, 299, 3]);
        assert.deepEqual(shape, [1, 8, 8, 2048]);
        assert.ok(values.every((v) => Number.isFinite(v) && v >= 0), 'mixed10 concatenates ReLU outputs and max pools');
      },
    );
  });

  test("layer names follow the weight file's Keras 2.0 automatic names (conv2d_1 … conv2d_94), in Keras' creation order", async () => {
    // Build something else first: the names must not depend on what was built before.
    await withModel(
      () => MobileNetV2({ includeTop: false, inputShape: [32, 32, 3] }),
      () => undefined,
    );
    await withModel(
      () => InceptionV3({ includeTop: false, inputShape: [75, 75, 3] }),
      (m) => {
        const names = layerNames(m);
        for (let i = 1; i <= 94; i++) {
          for (const prefix of ['conv2d', 'batch_normalization', 'activation']) {
            assert.ok(names.has(`${prefix}_${i}`), `${prefix}_${i} missing`);
          }
        }
        for (const absent of ['conv2d', 'conv2d_95', 'batch_normalization', 'batch_normalization_95', 'activation_95']) {
          assert.ok(!names.has(absent), `${absent} should not exist`);
        }
        const keyLayers = [
          'input_1',
          ...Array.from({ length: 11 }, (_, i) => `mixed${i}`),
          'mixed9_0',
          'mixed9_1',
          'concatenate_1',
          'concatenate_2',
          'max_pooling2d_1',
          'max_pooling2d_4',
          'average_pooling2d_1',
          'average_pooling2d_9',
        ];
        for (const name of keyLayers) assert.ok(names.has(name), `${name} missing`);
        assert.ok(!names.has('max_pooling2d_5') && !names.has('average_pooling2d_10') && !names.has('concatenate_3'));

        // Creation order pinned at both ends: the stem, and mixed10's pool branch is the last conv.
        assert.deepEqual(m.getLayer('conv2d_1').weights[0].shape, [3, 3, 3, 32]);
        assert.deepEqual(m.getLayer('conv2d_5').weights[0].shape, [3, 3, 80, 192]);
        assert.deepEqual(m.getLayer('conv2d_8').weights[0].shape, [5, 5, 48, 64]); // mixed0 5x5
        assert.deepEqual(m.getLayer('conv2d_27').weights[0].shape, [3, 3, 288, 384]); // mixed3 3x3/2
        assert.deepEqual(m.getLayer('conv2d_33').weights[0].shape, [1, 7, 128, 128]); // mixed4 1x7
        assert.deepEqual(m.getLayer('conv2d_79').weights[0].shape, [1, 3, 384, 384]); // mixed9 branch3x3_1
        assert.deepEqual(m.getLayer('conv2d_80').weights[0].shape, [3, 1, 384, 384]); // mixed9 branch3x3_2
        assert.deepEqual(m.getLayer('conv2d_94').weights[0].shape, [1, 1, 2048, 192]); // mixed10 pool branch

        // conv2d_bn: Conv2D without bias, BatchNormalization with scale=False (no gamma).
        assert.deepEqual(weightNames(m, 'conv2d_1'), ['kernel']);
        assert.deepEqual(weightNames(m, 'batch_normalization_1'), ['beta', 'moving_mean', 'moving_variance']);
        const bn = m.getLayer('batch_normalization_50').getConfig() as { epsilon: number; momentum: number; scale: boolean };
        assert.equal(bn.epsilon, 1e-3);
        assert.equal(bn.momentum, 0.99);
        assert.equal(bn.scale, false);
        // The pool branches average over valid pixels only, as TF's 'same' average pooling.
        assert.equal((m.getLayer('average_pooling2d_1').getConfig() as { padding: string }).padding, 'same');
        assert.deepEqual(m.getLayer('mixed9_0').outputShape, [null, 1, 1, 768]);
      },
    );
  });

  test('pooling avg / max / none without the top, at the minimum size 75 and a non-square input', async () => {
    for (const [pooling, layer] of [
      ['avg', 'global_average_pooling2d_1'],
      ['max', 'global_max_pooling2d_1'],
    ] as const) {
      await withModel(
        () => InceptionV3({ includeTop: false, inputShape: [75, 75, 3], pooling }),
        (m) => {
          assert.deepEqual(m.outputs[0].shape, [null, 2048]);
          assert.equal(m.layers[m.layers.length - 1].name, layer);
          const { shape, values } = predictFinite(m, [2, 75, 75, 3]);
          assert.deepEqual(shape, [2, 2048]);
          assert.ok(values.every(Number.isFinite));
          if (pooling === 'max') assert.ok(values.every((v) => v >= 0), 'max of ReLU outputs is >= 0');
        },
      );
    }
    await withModel(
      () => InceptionV3({ includeTop: false, inputShape: [75, 139, 3] }),
      (m) => assert.deepEqual(m.outputs[0].shape, [null, 1, 3, 2048]),
    );
  });

  test('classes and classifierActivation null give a linear head of that size', async () => {
    await withModel(
      () => InceptionV3({ classes: 7, classifierActivation: null }),
      (m) => {
        assert.deepEqual(m.outputs[0].shape, [null, 7]);
        assert.equal((m.getLayer('predictions').getConfig() as { activation: string }).activation, 'linear');
        assert.equal(m.countParams(), 21_802_784 + 2048 * 7 + 7);
      },
    );
  });

  test('option errors: size with the top, minimum size, alpha, imagenet classes, pooling', () => {
    assert.throws(() => InceptionV3({ inputShape: [150, 150, 3] }), (e: unknown) => e instanceof OptionsError && /299x299/.test(e.message));
    assert.throws(() => InceptionV3({ includeTop: false, inputShape: [74, 75, 3] }), (e: unknown) => e instanceof OptionsError && /75x75/.test(e.message));
    assert.throws(() => InceptionV3({ includeTop: false, inputShape: [150, 150, 1] }), OptionsError);
    assert.throws(() => InceptionV3({ weights: 'imagenet', classes: 10 }), (e: unknown) => e instanceof OptionsError && /classes=1000/.test(e.message));
    assert.throws(() => InceptionV3({ alpha: 0.5 } as never), (e: unknown) => e instanceof OptionsError && /alpha=0.5/.test(e.message));
    assert.throws(() => InceptionV3({ includeTop: false, pooling: 'sum' as never }), OptionsError);
  });

  test('registry spec: tf preprocessing, 299/75, 2048 features, Keras URLs with md5', () => {
    assert.equal(inceptionV3Spec.name, 'inception_v3');
    assert.equal(inceptionV3Spec.build, InceptionV3);
    assert.equal(inceptionV3Spec.preprocessing, 'tf');
    assert.equal(inceptionV3Spec.defaultInputSize, 299);
    assert.equal(inceptionV3Spec.minInputSize, 75);
    assert.equal(inceptionV3Spec.alphas, undefined);
    assert.equal(inceptionV3Spec.featureSize(), 2048);
    assert.ok(Object.isFrozen(inceptionV3Spec));
    const base = 'https://storage.googleapis.com/tensorflow/keras-applications/inception_v3/';
    assert.deepEqual(inceptionV3Spec.imagenetWeights({ includeTop: true }), {
      url: `${base}inception_v3_weights_tf_dim_ordering_tf_kernels.h5`,
      fileName: 'inception_v3_weights_tf_dim_ordering_tf_kernels.h5',
      hash: '9a0d58056eeedaa3f26cb7ebd46da564',
      hashAlgorithm: 'md5',
    });
    assert.deepEqual(inceptionV3Spec.imagenetWeights({ includeTop: false, inputSize: 160 }), {
      url: `${base}inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5`,
      fileName: 'inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5',
      hash: 'bcbd6486424b2319ff4ef7d526e38f63',
      hashAlgorithm: 'md5',
    });
    assert.equal(inceptionV3Spec.imagenetWeights({ includeTop: true, inputSize: 224 }), undefined);
    assert.equal(inceptionV3Spec.imagenetWeights({ includeTop: false, inputSize: 64 }), undefined);
    assert.equal(inceptionV3Spec.imagenetWeights({ includeTop: false, alpha: 0.5 }), undefined);
  });
});

describe('MobileNetV2', () => {
  test('alpha 1.0: Keras count_params 3,538,984 with the top, 2,257,984 without; 156/154 layers', async () => {
    await withModel(
      () => MobileNetV2(),
      (m) => {
        assert.equal(m.name, 'mobilenetv2_1.00_224');
        assert.equal(m.countParams(), 3_538_984);
        assert.equal(m.layers.length, 156);
        // Conv1/bn_Conv1, 4 in block 0, 6 in each of blocks 1-16, Conv_1/Conv_1_bn, predictions.
        assert.equal(m.layers.filter((l) => l.weights.length > 0).length, 105);
        assert.deepEqual(m.outputs[0].shape, [null, 1000]);
        assert.deepEqual(m.layers.slice(-2).map((l) => l.name), ['global_average_pooling2d', 'predictions']);
        const { shape, values } = predictFinite(m, [1, 224, 224, 3]);
        assert.deepEqual(shape, [1, 1000]);
        assert.ok(values.every(Number.isFinite));
        assert.ok(Math.abs(values.reduce((a, b) => a + b, 0) - 1) < 1e-4);
      },
    );
    await withModel(
      () => MobileNetV2({ includeTop: false }),
      (m) => {
        assert.equal(m.countParams(), 2_257_984);
        assert.equal(m.layers.length, 154);
        const { shape, values } = predictFinite(m, [1, 224, 224, 3]);
        assert.deepEqual(shape, [1, 7, 7, 1280]);
        assert.ok(values.every((v) => Number.isFinite(v) && v >= 0 && v <= 6), 'out_relu is ReLU6');
      },
    );
  });

  test('alpha 0.35 with the top: 1,691,208 parameters (Keras rounds every width to a multiple of 8)', async () => {
    await withModel(
      () => MobileNetV2({ alpha: 0.35 }),
      (m) => {
        assert.equal(m.name, 'mobilenetv2_0.35_224');
        assert.equal(m.countParams(), 1_691_208);
        assert.deepEqual(m.getLayer('Conv1').weights[0].shape, [3, 3, 3, 16]); // makeDivisible(11.2) = 16
        assert.deepEqual(m.getLayer('expanded_conv_project').weights[0].shape, [1, 1, 16, 8]);
        assert.deepEqual(m.getLayer('block_16_project').weights[0].shape, [1, 1, 336, 112]);
        assert.deepEqual(m.getLayer('Conv_1').weights[0].shape, [1, 1, 112, 1280]); // 1280 for alpha <= 1
      },
    );
  });

  test("Keras' layer names, BatchNorm epsilon 1e-3 / momentum 0.999, ReLU6, pads and adds where Keras has them", async () => {
    await withModel(
      () => MobileNetV2({ includeTop: false, inputShape: [96, 96, 3] }),
      (m) => {
        const names = layerNames(m);
        const keyLayers = [
          'input_1',
          'Conv1',
          'bn_Conv1',
          'Conv1_relu',
          'expanded_conv_depthwise',
          'expanded_conv_depthwise_BN',
          'expanded_conv_depthwise_relu',
          'expanded_conv_project',
          'expanded_conv_project_BN',
          'block_1_expand',
          'block_1_expand_BN',
          'block_1_expand_relu',
          'block_1_pad',
          'block_1_depthwise',
          'block_1_depthwise_BN',
          'block_1_depthwise_relu',
          'block_1_project',
          'block_1_project_BN',
          'block_2_add',
          'block_16_expand',
          'block_16_project_BN',
          'Conv_1',
          'Conv_1_bn',
          'out_relu',
        ];
        for (const name of keyLayers) assert.ok(names.has(name), `${name} missing`);
        const pads = [...names].filter((n) => n.endsWith('_pad')).sort();
        assert.deepEqual(pads, ['block_13_pad', 'block_1_pad', 'block_3_pad', 'block_6_pad']);
        const adds = [...names].filter((n) => n.endsWith('_add')).map((n) => Number(n.split('_')[1])).sort((a, b) => a - b);
        assert.deepEqual(adds, [2, 4, 5, 7, 8, 9, 11, 12, 14, 15]);
        assert.ok(!names.has('expanded_conv_expand') && !names.has('block_0_expand'));

        for (const layer of m.layers.filter((l) => l.getClassName() === 'BatchNormalization')) {
          const c = layer.getConfig() as { epsilon: number; momentum: number };
          assert.equal(c.epsilon, 1e-3, layer.name);
          assert.equal(c.momentum, 0.999, layer.name);
          assert.deepEqual(weightNames(m, layer.name), ['gamma', 'beta', 'moving_mean', 'moving_variance']);
        }
        for (const layer of m.layers.filter((l) => l.getClassName() === 'ReLU')) {
          assert.equal((layer.getConfig() as { maxValue: number }).maxValue, 6, layer.name);
        }
        assert.deepEqual(weightNames(m, 'block_1_depthwise'), ['depthwise_kernel']);
        assert.deepEqual(weightNames(m, 'block_1_expand'), ['kernel']);
        // correct_pad at even sizes: ((0, 1), (0, 1)).
        assert.deepEqual((m.getLayer('block_1_pad').getConfig() as { padding: unknown }).padding, [[0, 1], [0, 1]]);
      },
    );
  });

  test('odd input sizes pad ((1, 1), (1, 1)) and give TF "same" sizes: 97 -> 4x4', async () => {
    await withModel(
      () => MobileNetV2({ includeTop: false, inputShape: [97, 97, 3] }),
      (m) => {
        assert.deepEqual((m.getLayer('block_1_pad').getConfig() as { padding: unknown }).padding, [[1, 1], [1, 1]]);
        assert.deepEqual(m.outputs[0].shape, [null, 4, 4, 1280]);
      },
    );
  });

  test('pooling avg / max / none, and a forward pass at the minimum size 32', async () => {
    for (const [pooling, layer] of [
      ['avg', 'global_average_pooling2d'],
      ['max', 'global_max_pooling2d'],
    ] as const) {
      await withModel(
        () => MobileNetV2({ includeTop: false, inputShape: [128, 128, 3], pooling }),
        (m) => {
          assert.deepEqual(m.outputs[0].shape, [null, 1280]);
          assert.equal(m.layers[m.layers.length - 1].name, layer);
        },
      );
    }
    await withModel(
      () => MobileNetV2({ includeTop: false, inputShape: [32, 32, 3], pooling: 'none', alpha: 0.5 }),
      (m) => {
        const { shape, values } = predictFinite(m, [3, 32, 32, 3]);
        assert.deepEqual(shape, [3, 1, 1, 1280]);
        assert.ok(values.every(Number.isFinite));
      },
    );
  });

  test('with the top Keras also accepts a square 96/128/160/192 input, named after it', async () => {
    await withModel(
      () => MobileNetV2({ alpha: 0.35, inputShape: [96, 96, 3], classes: 5, classifierActivation: 'linear' }),
      (m) => {
        assert.equal(m.name, 'mobilenetv2_0.35_96');
        assert.deepEqual(m.outputs[0].shape, [null, 5]);
        assert.equal((m.getLayer('predictions').getConfig() as { activation: string }).activation, 'linear');
      },
    );
  });

  test('featureSize(alpha) matches the built model for every alpha (1664 at 1.3, 1792 at 1.4)', async () => {
    assert.equal(mobilenetV2FeatureSize(1.3), 1664);
    assert.equal(mobilenetV2FeatureSize(1.4), 1792);
    for (const alpha of MOBILENET_V2_ALPHAS) {
      await withModel(
        () => MobileNetV2({ alpha, includeTop: false, inputShape: [32, 32, 3], pooling: 'avg' }),
        (m) => assert.deepEqual(m.outputs[0].shape, [null, mobilenetV2Spec.featureSize(alpha)], `alpha ${alpha}`),
      );
    }
  });

  test("makeDivisible as Keras' _make_divisible", () => {
    assert.equal(makeDivisible(32 * 0.35), 16); // 8 would be more than 10 % below 11.2
    assert.equal(makeDivisible(5), 8);
    assert.equal(makeDivisible(22), 24);
    assert.equal(makeDivisible(33), 32);
    assert.equal(makeDivisible(56), 56);
    assert.equal(makeDivisible(1280 * 1.3), 1664);
    assert.equal(makeDivisible(32 * 1.4), 48);
  });

  test('option errors: alpha, imagenet alphas, sizes, v1-only options', () => {
    assert.throws(() => MobileNetV2({ alpha: 0 }), (e: unknown) => e instanceof OptionsError && /alpha/.test(e.message));
    assert.throws(() => MobileNetV2({ alpha: Number.NaN }), OptionsError);
    assert.throws(
      () => MobileNetV2({ alpha: 0.6, weights: 'imagenet' }),
      (e: unknown) => e instanceof OptionsError && /0\.35, 0\.5, 0\.75, 1, 1\.3, 1\.4/.test(e.message),
    );
    assert.throws(() => MobileNetV2({ inputShape: [100, 100, 3] }), (e: unknown) => e instanceof OptionsError && /224x224/.test(e.message));
    assert.throws(() => MobileNetV2({ includeTop: false, inputShape: [31, 64, 3] }), (e: unknown) => e instanceof OptionsError && /32x32/.test(e.message));
    assert.throws(() => MobileNetV2({ weights: 'imagenet', classes: 10 }), OptionsError);
    assert.throws(() => MobileNetV2({ depthMultiplier: 2 }), (e: unknown) => e instanceof OptionsError && /depthMultiplier=2/.test(e.message));
    assert.throws(() => MobileNetV2({ dropout: 0.2 }), (e: unknown) => e instanceof OptionsError && /dropout=0.2/.test(e.message));
    // Without ImageNet weights any positive alpha builds, as in Keras.
    const m = MobileNetV2({ alpha: 0.6, includeTop: false, inputShape: [32, 32, 3] });
    assert.equal(m.name, 'mobilenetv2_0.60_32');
    m.dispose();
  });

  test("registry spec: tf preprocessing, six alphas, Keras' 22 weight files and nothing else", () => {
    assert.equal(mobilenetV2Spec.name, 'mobilenet_v2');
    assert.equal(mobilenetV2Spec.build, MobileNetV2);
    assert.equal(mobilenetV2Spec.preprocessing, 'tf');
    assert.equal(mobilenetV2Spec.defaultInputSize, 224);
    assert.equal(mobilenetV2Spec.minInputSize, 32);
    assert.deepEqual(mobilenetV2Spec.alphas, [0.35, 0.5, 0.75, 1.0, 1.3, 1.4]);
    assert.equal(mobilenetV2Spec.featureSize(), 1280);
    assert.equal(mobilenetV2Spec.featureSize(0.35), 1280);
    assert.ok(Object.isFrozen(mobilenetV2Spec));
    const base = 'https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v2/';
    assert.deepEqual(mobilenetV2Spec.imagenetWeights({ includeTop: true }), {
      url: `${base}mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224.h5`,
      fileName: 'mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224.h5',
    });
    assert.equal(
      mobilenetV2Spec.imagenetWeights({ includeTop: false, alpha: 0.5, inputSize: 96 })?.fileName,
      'mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.5_96_no_top.h5',
    );
    assert.equal(
      mobilenetV2Spec.imagenetWeights({ includeTop: false, alpha: 0.35, inputSize: 160 })?.url,
      `${base}mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_160_no_top.h5`,
    );
    assert.equal(
      mobilenetV2Spec.imagenetWeights({ includeTop: false, alpha: 1.3, inputSize: 224 })?.fileName,
      'mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.3_224_no_top.h5',
    );
    let files = 0;
    for (const alpha of MOBILENET_V2_ALPHAS) {
      for (const inputSize of [96, 128, 160, 192, 224]) if (mobilenetV2Spec.imagenetWeights({ includeTop: false, alpha, inputSize })) files++;
    }
    assert.equal(files, 22);
    assert.equal(mobilenetV2Spec.imagenetWeights({ includeTop: false, alpha: 1.4, inputSize: 192 }), undefined);
    assert.equal(mobilenetV2Spec.imagenetWeights({ includeTop: false, alpha: 1.0, inputSize: 256 }), undefined);
    assert.equal(mobilenetV2Spec.imagenetWeights({ includeTop: false, alpha: 0.6 }), undefined);
  });
});

/**
 * VGG16, VGG19 and ResNet50 with random weights: Keras' parameter counts, layer names and weight
 * shapes (so Keras' HDF5 files load by name), output shapes, a finite forward pass, option errors.
 * Each big model is built once and disposed (VGG with the top is ~550 MB of weights).
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { selectBackend } from '../src/runtime/backend.js';
import * as tf from '@tensorflow/tfjs';
import { OptionsError } from '../src/errors.js';
import { ResNet50, resnet50Spec } from '../src/models/resnet50.js';
import type { ModelSpec } from '../src/models/types.js';
import { VGG16, vgg16Spec } from '../src/models/vgg16.js';
import { VGG19, vgg19Spec } from '../src/models/vgg19.js';

before(async () => {
  await selectBackend({ backend: 'wasm' });
});

interface Expected {
  spec: ModelSpec;
  /** Keras `count_params()` with and without the top (BN moving statistics included). */
  paramsTop: number;
  paramsNoTop: number;
  /** Keras `len(model.layers)` with the top (input layer included). */
  layersTop: number;
  /** Layers that carry weights, with the top (each a group in Keras' HDF5 file). */
  weightedLayersTop: number;
  /** Names every weight file of this model holds, with the shape of their first weight (kernel/gamma). */
  keyWeights: Record<string, number[]>;
  /** Weightless layers Keras has too. */
  keyLayers: string[];
  /** Pattern of every weighted layer's name. */
  weightedName: RegExp;
  /** The 4-D feature map at 224 without the top. */
  mapShape224: (number | null)[];
  /** Keras' file names (with, without top). */
  files: [string, string];
}

const EXPECTED: Expected[] = [
  {
    spec: vgg16Spec,
    paramsTop: 138_357_544,
    paramsNoTop: 14_714_688,
    layersTop: 23,
    weightedLayersTop: 16,
    keyWeights: {
      block1_conv1: [3, 3, 3, 64],
      block3_conv3: [3, 3, 256, 256],
      block5_conv3: [3, 3, 512, 512],
      fc1: [25088, 4096],
      fc2: [4096, 4096],
      predictions: [4096, 1000],
    },
    keyLayers: ['block1_pool', 'block5_pool', 'flatten'],
    weightedName: /^(block[1-5]_conv[1-3]|fc1|fc2|predictions)$/,
    mapShape224: [null, 7, 7, 512],
    files: ['vgg16_weights_tf_dim_ordering_tf_kernels.h5', 'vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5'],
  },
  {
    spec: vgg19Spec,
    paramsTop: 143_667_240,
    paramsNoTop: 20_024_384,
    layersTop: 26,
    weightedLayersTop: 19,
    keyWeights: {
      block1_conv1: [3, 3, 3, 64],
      block3_conv4: [3, 3, 256, 256],
      block5_conv4: [3, 3, 512, 512],
      fc1: [25088, 4096],
      predictions: [4096, 1000],
    },
    keyLayers: ['block4_pool', 'block5_pool', 'flatten'],
    weightedName: /^(block[1-5]_conv[1-4]|fc1|fc2|predictions)$/,
    mapShape224: [null, 7, 7, 512],
    files: ['vgg19_weights_tf_dim_ordering_tf_kernels.h5', 'vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5'],
  },
  {
    spec: resnet50Spec,
    paramsTop: 25_636_712,
    paramsNoTop: 23_587_712,
    layersTop: 177,
    weightedLayersTop: 107, // 53 convolutions, 53 BatchNorms, predictions
    keyWeights: {
      conv1_conv: [7, 7, 3, 64],
      conv1_bn: [64],
      conv2_block1_0_conv: [1, 1, 64, 256],
      conv2_block1_1_conv: [1, 1, 64, 64],
      conv2_block1_2_conv: [3, 3, 64, 64],
      conv2_block3_3_bn: [256],
      conv3_block1_0_conv: [1, 1, 256, 512],
      conv4_block6_2_conv: [3, 3, 256, 256],
      conv5_block3_3_conv: [1, 1, 512, 2048],
      conv5_block3_3_bn: [2048],
      predictions: [2048, 1000],
    },
    keyLayers: [
      'conv1_pad', 'conv1_relu', 'pool1_pad', 'pool1_pool', 'conv2_block1_add', 'conv2_block1_out',
      'conv2_block2_1_relu', 'conv4_block6_out', 'conv5_block3_out', 'avg_pool',
    ],
    weightedName: /^(conv1_(conv|bn)|conv[2-5]_block[1-6]_[0-3]_(conv|bn)|predictions)$/,
    mapShape224: [null, 7, 7, 2048],
    files: ['resnet50_weights_tf_dim_ordering_tf_kernels.h5', 'resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5'],
  },
];

for (const e of EXPECTED) {
  const { spec } = e;
  describe(spec.name, () => {
    test(`spec: caffe preprocessing, 224 default, 32 minimum, ${spec.featureSize()} features, md5-checked Keras files`, () => {
      assert.equal(spec.preprocessing, 'caffe');
      assert.equal(spec.defaultInputSize, 224);
      assert.equal(spec.minInputSize, 32);
      assert.equal(spec.alphas, undefined);
      assert.ok(Object.isFrozen(spec));
      for (const [includeTop, fileName] of [[true, e.files[0]], [false, e.files[1]]] as const) {
        const w = spec.imagenetWeights({ includeTop });
        assert.ok(w, `weights for includeTop=${includeTop}`);
        assert.equal(w.fileName, fileName);
        assert.equal(w.url, `https://storage.googleapis.com/tensorflow/keras-applications/${spec.name === 'resnet50' ? 'resnet' : spec.name}/${fileName}`);
        assert.match(w.hash ?? '', /^[0-9a-f]{32}$/);
        assert.equal(w.hashAlgorithm, 'md5');
      }
      assert.notEqual(spec.imagenetWeights({ includeTop: true })?.hash, spec.imagenetWeights({ includeTop: false })?.hash);
      // The conv body loads at any size; the top only at 224.
      assert.equal(spec.imagenetWeights({ includeTop: false, inputSize: 160 })?.fileName, e.files[1]);
      assert.equal(spec.imagenetWeights({ includeTop: true, inputSize: 160 }), undefined);
      assert.equal(spec.imagenetWeights({ includeTop: false, alpha: 0.5 }), undefined);
    });

    test(`with top: ${e.paramsTop.toLocaleString('en')} parameters as Keras, Keras layer names and weight shapes, softmax over 1000`, () => {
      const tensorsBefore = tf.memory().numTensors;
      const model = spec.build({ weights: 'imagenet' });
      try {
        assert.equal(model.name, spec.name);
        assert.equal(model.countParams(), e.paramsTop);
        assert.equal(model.layers.length, e.layersTop);
        assert.deepEqual(model.inputs[0].shape, [null, 224, 224, 3]);
        assert.deepEqual(model.outputs[0].shape, [null, 1000]);

        const names = model.layers.map((l) => l.name);
        assert.equal(new Set(names).size, names.length, 'layer names are unique');
        for (const name of e.keyLayers) assert.ok(names.includes(name), `layer ${name}`);
        const weighted = model.layers.filter((l) => l.weights.length > 0);
        assert.equal(weighted.length, e.weightedLayersTop);
        for (const layer of weighted) assert.match(layer.name, e.weightedName);
        for (const [name, shape] of Object.entries(e.keyWeights)) {
          assert.deepEqual(model.getLayer(name).weights[0].shape, shape, `${name} first weight shape`);
        }
        // Weight names as in Keras' HDF5 files (kernel/bias; gamma/beta/moving_mean/moving_variance).
        for (const layer of weighted) {
          const short = layer.weights.map((w) => w.originalName.slice(w.originalName.lastIndexOf('/') + 1));
          const want = layer.getClassName() === 'BatchNormalization' ? ['gamma', 'beta', 'moving_mean', 'moving_variance'] : ['kernel', 'bias'];
          assert.deepEqual(short, want, `${layer.name} weights`);
        }
        const top = model.getLayer('predictions').getConfig();
        assert.equal(top.activation, 'softmax');
        // Keras' glorot_uniform (tfjs serialises it as VarianceScaling fanAvg/uniform, scale 1).
        const init = top.kernelInitializer as { className: string; config: Record<string, unknown> };
        assert.equal(init.className, 'VarianceScaling');
        assert.deepEqual([init.config.scale, init.config.mode, init.config.distribution], [1, 'fanAvg', 'uniform']);
        if (spec.name === 'resnet50') {
          assert.equal(model.getLayer('conv1_bn').getConfig().epsilon, 1.001e-5);
          assert.equal(model.getLayer('conv5_block3_3_bn').getConfig().epsilon, 1.001e-5);
        }

        // One forward pass at 224 with the top: a probability vector.
        const probs = tf.tidy(() => model.predict(tf.randomUniform([1, 224, 224, 3], -120, 150, 'float32', 7)) as tf.Tensor);
        const values = Array.from(probs.dataSync());
        probs.dispose();
        assert.equal(values.length, 1000);
        assert.ok(values.every((v) => Number.isFinite(v) && v >= 0));
        assert.ok(Math.abs(values.reduce((a, b) => a + b, 0) - 1) < 1e-4);
      } finally {
        model.dispose();
      }
      assert.equal(tf.memory().numTensors, tensorsBefore, 'dispose frees every weight');
    });

    test(`without top: ${e.paramsNoTop.toLocaleString('en')} parameters as Keras; pooling none gives the ${e.mapShape224.slice(1).join('x')} map at 224`, () => {
      const model = spec.build({ includeTop: false });
      try {
        assert.equal(model.countParams(), e.paramsNoTop);
        assert.deepEqual(model.outputs[0].shape, e.mapShape224);
        const names = model.layers.map((l) => l.name);
        assert.ok(!names.includes('predictions'));
        assert.ok(!names.includes('fc1') && !names.includes('flatten') && !names.includes('avg_pool'));
        assert.equal(model.layers.length, e.layersTop - (spec.name === 'resnet50' ? 2 : 4));
      } finally {
        model.dispose();
      }
    });

    test('without top at 64x64: avg/max pooling give the feature vector, none the 2x2 map, all finite', () => {
      const x = tf.randomUniform([2, 64, 64, 3], -120, 150, 'float32', 3);
      const features = spec.featureSize();
      const cases = [
        ['avg', [2, features]],
        ['max', [2, features]],
        ['none', [2, 2, 2, features]],
      ] as const;
      try {
        for (const [pooling, shape] of cases) {
          const model = spec.build({ includeTop: false, inputShape: [64, 64, 3], pooling });
          try {
            assert.deepEqual(model.outputs[0].shape, [null, ...shape.slice(1)], `${pooling} symbolic shape`);
            const y = model.predict(x) as tf.Tensor;
            assert.deepEqual(y.shape, [...shape], `${pooling} output shape`);
            const v = Array.from(y.dataSync());
            y.dispose();
            assert.ok(v.every(Number.isFinite), `${pooling} output finite`);
            assert.ok(v.some((a) => a !== 0), `${pooling} output not all zero`);
            if (pooling !== 'none') {
              const poolName = spec.name === 'resnet50' ? `${pooling}_pool` : `global_${pooling === 'avg' ? 'average' : 'max'}_pooling2d`;
              assert.equal(model.layers[model.layers.length - 1].name, poolName);
            }
          } finally {
            model.dispose();
          }
        }
      } finally {
        x.dispose();
      }
    });

    test('option errors: imagenet top needs 1000 classes, top needs 224, input at least 32, no alpha', () => {
      const throwsOptions = (options: Parameters<ModelSpec['build']>[0], pattern: RegExp) =>
        assert.throws(() => spec.build(options), (err: unknown) => err instanceof OptionsError && pattern.test(err.message));
      throwsOptions({ weights: 'imagenet', includeTop: true, classes: 10 }, /classes=1000.*Received classes=10/);
      throwsOptions({ includeTop: true, inputShape: [160, 160, 3] }, /224x224.*Received 160x160/);
      throwsOptions({ includeTop: false, inputShape: [31, 64, 3] }, /at least 32x32.*Received 31x64/);
      throwsOptions({ includeTop: false, inputShape: [64, 64, 1] }, /\[height, width, 3\]/);
      throwsOptions({ includeTop: false, alpha: 0.5 }, /no width multiplier.*alpha=0.5/);
    });
  });
}

test('resnet50: classes and classifierActivation null give linear logits of that many classes', () => {
  const model = ResNet50({ classes: 10, classifierActivation: null });
  try {
    assert.deepEqual(model.outputs[0].shape, [null, 10]);
    assert.equal(model.getLayer('predictions').getConfig().activation, 'linear');
    assert.equal(model.countParams(), 23_587_712 + 2048 * 10 + 10);
  } finally {
    model.dispose();
  }
});

test('each spec builds with its Keras-named builder', () => {
  assert.equal(vgg16Spec.build, VGG16);
  assert.equal(vgg19Spec.build, VGG19);
  assert.equal(resnet50Spec.build, ResNet50);
});

test('VGG at the 32x32 minimum reduces to a 1x1 map', () => {
  const model = VGG16({ includeTop: false, inputShape: [32, 48, 3] });
  try {
    assert.deepEqual(model.outputs[0].shape, [null, 1, 1, 512]);
  } finally {
    model.dispose();
  }
});

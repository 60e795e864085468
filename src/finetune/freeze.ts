/**
 * Which layers of a backbone stay frozen: `--freeze <layer name | block count | fraction | all | none>`.
 *
 * Keras' fine-tuning recipe freezes "the first layers" (`for layer in base.layers[:n]:
 * layer.trainable = False`); ftk lets you say where in three ways:
 * - a layer name (`conv_pw_11_relu`): that layer and every layer before it (in `model.layers`
 *   order, which is topological) are frozen;
 * - a block count N (an integer): the stem and the first N blocks are frozen, blocks as the
 *   architecture's Keras names count them (`BLOCK_ENDS` below): MobileNet's `conv_dw_N`/`conv_pw_N`
 *   (13), MobileNetV2's `block_N` (16; block 0, `expanded_conv`, goes with the stem), ResNet50's `convX_blockY` in order (16), VGG's `blockN`
 *   (5), InceptionV3's `mixedN` as blocks 1..11; 0 freezes the stem only;
 * - a fraction in (0, 1): the first floor(f * layers) layers (Keras' list slice; the input layer
 *   counts, as in Keras' `model.layers`);
 * - 'all' freezes the whole base (only the head trains) and 'none' freezes nothing.
 */
import type * as tf from '@tensorflow/tfjs';
import { OptionsError } from '../errors.js';
import { nearestNames } from '../models/backbone.js';

import { parseFreezeSpec, type FreezeSpec } from './defaults.js';

export { parseFreezeSpec, type FreezeSpec };

export interface FreezePlan {
  /** The first `frozenLayers` layers of the base are frozen. */
  frozenLayers: number;
  /** Name of the last frozen layer (undefined when nothing is frozen). */
  lastFrozen?: string;
  /** Layers of the base in total. */
  totalLayers: number;
  /** How the spec was read, for messages and ftk.json, e.g. 'block 11 (through conv_pw_11_relu)'. */
  description: string;
}

/** The layer that ends each block, stem first (index 0 = stem), from the model's layer names. */
export function blockEnds(modelName: string, layerNames: readonly string[]): string[] {
  const lastStartingWith = (prefix: string) => {
    for (let i = layerNames.length - 1; i >= 0; i--) if (layerNames[i].startsWith(prefix)) return layerNames[i];
    return undefined;
  };
  const matching = (re: RegExp) => layerNames.filter((n) => re.test(n));
  switch (modelName) {
    case 'mobilenet':
      return matching(/^conv1_relu$|^conv_pw_\d+_relu$/);
    case 'mobilenet_v2': {
      // Keras numbers the first inverted-residual block (`expanded_conv`) 0: the stem goes with it.
      const ends: string[] = [];
      for (let k = 0; k <= 16; k++) {
        const end = lastStartingWith(k === 0 ? 'expanded_conv' : `block_${k}_`);
        if (end) ends.push(end);
      }
      return ends;
    }
    case 'resnet50':
      return [...matching(/^pool1_pool$/), ...matching(/^conv\d_block\d+_out$/)];
    case 'vgg16':
    case 'vgg19':
      return ['input_1', ...matching(/^block\d_pool$/)];
    case 'inception_v3': {
      const mixed = matching(/^mixed\d+$/);
      const firstMixed = layerNames.indexOf(mixed[0]);
      const stem = layerNames.slice(0, firstMixed).filter((n) => /^max_pooling2d(_\d+)?$/.test(n)).pop();
      return [...(stem ? [stem] : []), ...mixed];
    }
    default:
      return [];
  }
}

/** Works out the frozen layers of `base` (a zoo model without its top) for a spec. */
export function resolveFreeze(base: tf.LayersModel, modelName: string, spec: FreezeSpec): FreezePlan {
  const names = base.layers.map((l) => l.name);
  const total = names.length;
  const plan = (frozen: number, description: string): FreezePlan => ({
    frozenLayers: frozen,
    lastFrozen: frozen > 0 ? names[frozen - 1] : undefined,
    totalLayers: total,
    description,
  });
  if (spec === 'all') return plan(total, 'all layers of the base');
  if (spec === 'none') return plan(0, 'no layer');
  if (typeof spec === 'number') {
    if (Number.isInteger(spec)) {
      const ends = blockEnds(modelName, names);
      if (ends.length === 0) {
        throw new OptionsError(`--freeze ${spec}: ${modelName} has no named blocks.`, {
          code: 'FREEZE_NO_BLOCKS',
          suggestion: 'Pass a layer name or a fraction such as 0.75.',
        });
      }
      const blocks = ends.length - 1;
      if (spec < 0 || spec > blocks) {
        throw new OptionsError(`--freeze ${spec}: ${modelName} has blocks 0 (stem) to ${blocks}. Received ${spec}.`, {
          code: 'FREEZE_BAD_BLOCK',
          suggestion: `Use a block count in [0, ${blocks}], 'all' or 'none'.`,
        });
      }
      const end = names.indexOf(ends[spec]);
      return plan(end + 1, spec === 0 ? `the stem (through ${ends[0]})` : `the stem and blocks 1-${spec} (through ${ends[spec]})`);
    }
    if (!(spec > 0 && spec < 1)) {
      throw new OptionsError(`--freeze as a fraction must be in (0, 1). Received ${spec}.`, {
        code: 'FREEZE_BAD_FRACTION',
        suggestion: 'Use e.g. 0.75 (the first 75% of the layers), a block count, or a layer name.',
      });
    }
    const n = Math.floor(spec * total);
    return plan(n, `the first ${n} of ${total} layers (${spec})${n > 0 ? `, through ${names[n - 1]}` : ''}`);
  }
  const index = names.indexOf(spec);
  if (index < 0) {
    const near = nearestNames(spec, names);
    throw new OptionsError(`--freeze: the base ${base.name} has no layer "${spec}".`, {
      code: 'FREEZE_LAYER_UNKNOWN',
      suggestion: `Did you mean ${near.join(', ')}? Run \`ftk info --model ${modelName}\` to list the layers; --freeze also takes a block count or a fraction.`,
    });
  }
  return plan(index + 1, `through ${spec}`);
}

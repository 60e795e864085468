/**
 * The network that is fine-tuned: a zoo backbone without its top (pretrained, or seeded random
 * for training from scratch) plus a new head for the user's classes, exactly as Keras' transfer
 * learning guide builds it: global pooling -> Dropout -> Dense(classes, softmax). Or the small
 * from-scratch convnet (smallcnn.ts).
 *
 * Layer names: the backbone keeps Keras' names; the head is `global_average_pooling2d` (or
 * `global_max_pooling2d`), `dropout`, `predictions` (Keras Applications' name for the classifier).
 */
import * as tf from '@tensorflow/tfjs';
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { Rng } from '../data/random.js';
import { OptionsError } from '../errors.js';
import type { BackboneInfo } from '../formats/features.js';
import { buildBackbone, resolveBackbone, type ResolvedBackbone } from '../models/backbone.js';
import type { PreprocessMode } from '../models/types.js';
import { randomizeWeights } from '../models/random_weights.js';
import { loadFinetunedLayersModel, META_JSON, MODEL_JSON, readFinetunedMeta, WEIGHTS_BIN } from './format.js';
import { resolveFreeze, type FreezePlan } from './freeze.js';
import { LayerGraph } from './graph.js';
import type { ResolvedFinetuneOptions } from './options.js';
import { SMALLCNN_DEFAULT_INPUT_SIZE, SmallCNN } from './smallcnn.js';

export interface FinetuneModel {
  /** Input image -> class probabilities; what is saved. */
  model: tf.LayersModel;
  graph: LayerGraph;
  input: tf.SymbolicTensor;
  /** The pooled features the classifier reads (after global pooling; smallcnn: after Flatten). */
  pooled: tf.SymbolicTensor;
  probabilities: tf.SymbolicTensor;
  /** Layers of the backbone (everything before the head), in model order. */
  baseLayers: tf.layers.Layer[];
  /** Layers of the head (pooling, dropout, predictions). */
  headLayers: tf.layers.Layer[];
  /** Backbone identity (fingerprint keys the prefix cache); undefined for smallcnn. */
  backbone?: BackboneInfo;
  /** Frozen layers in phase 2 (pretrained); `frozenLayers: 0` when training from scratch. */
  freeze: FreezePlan;
  preprocessing: PreprocessMode;
  inputSize: number;
  crop: 'squash' | 'center';
  /** Weight file sha256 or 'random:<seed>'. */
  weightsSha256: string;
}

/** Glorot-uniform kernel and zero bias from the seed (tfjs' initialisers are not seeded). */
export function initDense(layer: tf.layers.Layer, seed: number): void {
  const rng = new Rng(seed);
  const values = layer.getWeights().map((w) => {
    const data = new Float32Array(w.size);
    if (w.rank === 2) {
      const limit = Math.sqrt(6 / (w.shape[0]! + w.shape[1]!));
      for (let i = 0; i < data.length; i++) data[i] = (rng.next() * 2 - 1) * limit;
    }
    return tf.tensor(data, w.shape);
  });
  layer.setWeights(values);
  tf.dispose(values);
}

/** Resolves the backbone (weights fetched and hashed) without building it. */
export async function resolveFinetuneBackbone(r: ResolvedFinetuneOptions, onNotice?: (m: string) => void): Promise<ResolvedBackbone | undefined> {
  if (r.model === 'smallcnn') return undefined;
  return resolveBackbone({
    model: r.model,
    alpha: r.alpha,
    weights: r.weights === 'none' ? 'random' : r.weights,
    seed: r.seed,
    inputSize: r.inputSize,
    crop: r.crop,
    pooling: 'none',
    layer: r.layer,
    preprocess: r.preprocess,
    onNotice,
  });
}

/** Builds the model (weights loaded, head seeded) and its freeze plan. */
export async function buildFinetuneModel(
  r: ResolvedFinetuneOptions,
  classes: number,
  resolved: ResolvedBackbone | undefined,
  onNotice?: (m: string) => void,
): Promise<FinetuneModel> {
  if (!resolved) {
    const inputSize = r.inputSize ?? SMALLCNN_DEFAULT_INPUT_SIZE;
    const model = SmallCNN({ inputShape: [inputSize, inputSize, 3], classes });
    randomizeWeights(model, r.seed);
    const flatten = model.getLayer('flatten');
    const headStart = model.layers.indexOf(flatten) + 1;
    const baseLayers = model.layers.slice(0, headStart);
    let weightsSha256 = `random:${r.seed}`;
    let freeze: FreezePlan = { frozenLayers: 0, totalLayers: headStart, description: 'no layer (from scratch)' };
    if (!r.scratch) {
      try {
        weightsSha256 = await loadSmallCnnBase(r.weights, baseLayers);
        const base = tf.model({ inputs: model.inputs, outputs: flatten.output as tf.SymbolicTensor, name: 'smallcnn_base' });
        freeze = resolveFreeze(base, 'smallcnn', r.freeze);
      } catch (err) {
        model.dispose();
        throw err;
      }
      onNotice?.(`smallcnn starts from ${r.weights} (its convolutions; the head is new).`);
    }
    return {
      model,
      graph: new LayerGraph(model),
      input: model.inputs[0],
      pooled: flatten.output as tf.SymbolicTensor,
      probabilities: model.outputs[0],
      baseLayers,
      headLayers: model.layers.slice(headStart),
      freeze,
      preprocessing: 'tf',
      inputSize,
      crop: r.crop,
      weightsSha256,
    };
  }
  const backbone = await buildBackbone(resolved, { onNotice, seed: r.seed });
  const base = backbone.model;
  const info = backbone.info;
  const x = base.outputs[0];
  if (x.shape.length !== 4) {
    base.dispose();
    throw new OptionsError(`The new head goes on a feature map [N, H, W, C]; ${info.layer} outputs [${x.shape.map((d) => d ?? 'N').join(', ')}].`, {
      code: 'FINETUNE_LAYER_RANK',
      suggestion: 'Pass --layer with the last convolutional (4-D) layer, before the model\'s own pooling and classifier (`ftk info --model tfjs:<folder>` lists the layers).',
    });
  }
  const pool = r.pooling === 'avg' ? tf.layers.globalAveragePooling2d({ name: 'global_average_pooling2d' }) : tf.layers.globalMaxPooling2d({ name: 'global_max_pooling2d' });
  const dropout = tf.layers.dropout({ rate: r.dropout, name: 'dropout' });
  const dense = tf.layers.dense({ units: classes, activation: 'softmax', name: 'predictions' });
  const pooled = pool.apply(x) as tf.SymbolicTensor;
  const probabilities = dense.apply(dropout.apply(pooled)) as tf.SymbolicTensor;
  const model = tf.model({ inputs: base.inputs, outputs: probabilities, name: `${base.name}_finetuned` });
  initDense(dense, r.seed);
  if (r.scratch) randomizeWeights(model, r.seed);
  const freeze = r.scratch ? { frozenLayers: 0, totalLayers: base.layers.length, description: 'no layer (from scratch)' } : resolveFreeze(base, r.model, r.freeze);
  return {
    model,
    graph: new LayerGraph(model),
    input: model.inputs[0],
    pooled,
    probabilities,
    baseLayers: base.layers,
    headLayers: [pool, dropout, dense],
    backbone: info,
    freeze,
    preprocessing: info.preprocessing,
    inputSize: info.inputSize,
    crop: info.crop,
    weightsSha256: info.weightsSha256,
  };
}

/**
 * Copies the convolution weights (every base layer with weights) of a smallcnn model folder written
 * by ftk into `baseLayers`, by layer name; returns the sha256 of its weight file. The input size
 * may differ (convolution kernels do not depend on it).
 */
async function loadSmallCnnBase(source: string, baseLayers: readonly tf.layers.Layer[]): Promise<string> {
  const dir = path.basename(source) === MODEL_JSON || path.basename(source) === META_JSON ? path.dirname(source) : source;
  const meta = await readFinetunedMeta(dir);
  if (meta.architecture !== 'smallcnn') {
    throw new OptionsError(`--weights ${source}: a smallcnn starts from a smallcnn model folder; this one holds a ${meta.architecture}.`, {
      code: 'FINETUNE_BAD_OPTION',
      suggestion: `Pass the folder of an \`ftk finetune --model smallcnn\` run, or use --model ${meta.architecture} with that architecture's weights.`,
    });
  }
  const saved = await loadFinetunedLayersModel(dir, meta);
  try {
    for (const layer of baseLayers) {
      if (layer.weights.length === 0) continue;
      let from: tf.layers.Layer;
      try {
        from = saved.getLayer(layer.name);
      } catch {
        throw new OptionsError(`--weights ${source}: the saved smallcnn has no layer ${layer.name}.`, { code: 'FINETUNE_BAD_OPTION', suggestion: 'Pass a smallcnn folder written by this ftk version.' });
      }
      const values = from.getWeights();
      const want = layer.weights.map((w) => w.shape.join('x'));
      const got = values.map((v) => v.shape.join('x'));
      if (want.join(',') !== got.join(',')) {
        throw new OptionsError(`--weights ${source}: layer ${layer.name} has weights [${got.join(', ')}], the model needs [${want.join(', ')}].`, { code: 'FINETUNE_BAD_OPTION' });
      }
      layer.setWeights(values);
    }
  } finally {
    saved.dispose();
  }
  return createHash('sha256').update(await fsp.readFile(path.join(dir, meta.files?.weights ?? WEIGHTS_BIN))).digest('hex');
}

/**
 * Running part of a tf.layers model's graph on concrete tensors, layer by layer, with a
 * training flag chosen per layer.
 *
 * Why not `model.predict`/`model.fit`: tfjs-layers passes one `training` flag to every layer,
 * and its BatchNormalization uses batch statistics (and updates its moving averages) whenever
 * `training` is true, even when the layer is not trainable (Keras >= 2.1.3 runs a non-trainable
 * BN in inference mode). Fine-tuning needs frozen BN layers in inference mode while Dropout
 * still drops, so ftk walks the graph itself: each layer is `apply`-ed with the flag its policy
 * gives, and Dropout layers use ftk's seeded masks.
 *
 * It also cuts the graph: a run may start from any set of tensors (the frozen prefix's output,
 * cached) and stop at any tensors.
 */
import * as tf from '@tensorflow/tfjs';
import type { Rng } from '../data/random.js';

/** One call of a layer in the graph. */
export interface GraphNode {
  layer: tf.layers.Layer;
  inputs: tf.SymbolicTensor[];
  outputs: tf.SymbolicTensor[];
}

/** What a layer does during a run. */
export interface RunPolicy {
  /** The `training` flag a layer is called with (BatchNormalization: batch statistics). */
  training(layer: tf.layers.Layer): boolean;
  /** Seeded dropout masks; without it Dropout layers pass their input through (inference). */
  dropoutRng?: Rng;
  /** Dropout masks drawn elsewhere (a data-parallel replica gets its rows of the batch's masks); wins over `dropoutRng`. */
  dropout?(layer: tf.layers.Layer, x: tf.Tensor): tf.Tensor;
  /** Free intermediates after their last use (only outside gradient computations). Default: true for INFERENCE. */
  release?: boolean;
}

/** Inference everywhere (BN moving statistics, no dropout). */
export const INFERENCE: RunPolicy = Object.freeze({ training: () => false });

interface InternalTensor {
  sourceLayer: tf.layers.Layer & { inboundNodes: { inputTensors: tf.SymbolicTensor[]; outputTensors: tf.SymbolicTensor[] }[] };
  nodeIndex: number;
}

export class LayerGraph {
  /** Every call of the model, in topological order. */
  readonly nodes: GraphNode[];
  private readonly producer = new Map<number, GraphNode>();
  private readonly plans = new Map<string, GraphNode[]>();

  constructor(readonly model: tf.LayersModel) {
    const nodes: GraphNode[] = [];
    const seen = new Set<unknown>();
    const visit = (t: tf.SymbolicTensor): void => {
      const { sourceLayer, nodeIndex } = t as unknown as InternalTensor;
      const node = sourceLayer.inboundNodes[nodeIndex];
      if (seen.has(node)) return;
      seen.add(node);
      for (const input of node.inputTensors) visit(input);
      const graphNode: GraphNode = { layer: sourceLayer, inputs: [...node.inputTensors], outputs: [...node.outputTensors] };
      nodes.push(graphNode);
      for (const out of graphNode.outputs) this.producer.set(out.id, graphNode);
    };
    for (const out of model.outputs) visit(out);
    this.nodes = nodes;
  }

  /** The node producing a tensor. */
  nodeOf(t: tf.SymbolicTensor): GraphNode | undefined {
    return this.producer.get(t.id);
  }

  /**
   * Tensors that cross from `frozen` layers to the others: outputs of frozen layers used by a
   * non-frozen layer or by the model's outputs, in topological order. These are what the frozen
   * prefix must produce for the rest to run.
   */
  boundary(frozen: ReadonlySet<tf.layers.Layer>): tf.SymbolicTensor[] {
    const crossing = new Map<number, tf.SymbolicTensor>();
    for (const node of this.nodes) {
      if (frozen.has(node.layer)) continue;
      for (const input of node.inputs) {
        const from = this.producer.get(input.id);
        if (from && frozen.has(from.layer)) crossing.set(input.id, input);
      }
    }
    for (const out of this.model.outputs) {
      const from = this.producer.get(out.id);
      if (from && frozen.has(from.layer)) crossing.set(out.id, out);
    }
    const order = new Map<number, number>();
    this.nodes.forEach((n, i) => n.outputs.forEach((o) => order.set(o.id, i)));
    return [...crossing.values()].sort((a, b) => order.get(a.id)! - order.get(b.id)!);
  }

  /** Nodes needed to compute `outputs` from `fed` tensor ids, in order. */
  plan(fed: readonly number[], outputs: readonly tf.SymbolicTensor[]): GraphNode[] {
    const key = `${fed.join(',')}>${outputs.map((o) => o.id).join(',')}`;
    let plan = this.plans.get(key);
    if (plan) return plan;
    const known = new Set(fed);
    const needed = new Set<GraphNode>();
    const want = (t: tf.SymbolicTensor): void => {
      if (known.has(t.id)) return;
      const node = this.producer.get(t.id);
      if (!node) throw new Error(`LayerGraph: tensor ${t.name} is neither fed nor produced by the model.`);
      if (needed.has(node)) return;
      needed.add(node);
      for (const input of node.inputs) want(input);
    };
    for (const out of outputs) want(out);
    plan = this.nodes.filter((n) => needed.has(n));
    this.plans.set(key, plan);
    return plan;
  }

  /**
   * Computes `outputs` from `feeds` (symbolic tensor id -> value). Returns tensors in the order of
   * `outputs`; intermediates stay alive (call inside `tidy`, or a gradient function).
   */
  run(feeds: ReadonlyMap<number, tf.Tensor>, outputs: readonly tf.SymbolicTensor[], policy: RunPolicy = INFERENCE): tf.Tensor[] {
    const values = new Map<number, tf.Tensor>(feeds);
    const plan = this.plan([...feeds.keys()], outputs);
    // In inference, free each intermediate after its last use (peak memory: the largest layer,
    // not the sum of all); a gradient run needs them all.
    const release = policy === INFERENCE || policy.release === true;
    const lastUse = new Map<number, number>();
    if (release) plan.forEach((node, k) => node.inputs.forEach((t) => lastUse.set(t.id, k)));
    const keep = new Set([...feeds.keys(), ...outputs.map((o) => o.id)]);
    const fed = new Set(feeds.values());
    for (let k = 0; k < plan.length; k++) {
      const node = plan[k];
      const inputs = node.inputs.map((t) => values.get(t.id)!);
      const x = inputs.length === 1 ? inputs[0] : inputs;
      let y: tf.Tensor | tf.Tensor[];
      if (node.layer.getClassName() === 'Dropout') {
        y = policy.dropout ? policy.dropout(node.layer, inputs[0]) : policy.dropoutRng ? seededDropout(inputs[0], (node.layer.getConfig() as { rate: number }).rate, policy.dropoutRng) : inputs[0];
      } else {
        y = node.layer.apply(x, { training: policy.training(node.layer) }) as tf.Tensor | tf.Tensor[];
      }
      const ys = Array.isArray(y) ? y : [y];
      node.outputs.forEach((o, i) => values.set(o.id, ys[i]));
      if (release) {
        for (const t of node.inputs) {
          const v = values.get(t.id);
          if (!v || lastUse.get(t.id) !== k || keep.has(t.id) || fed.has(v)) continue;
          values.delete(t.id);
          // Identity layers alias tensors: free only what no other live entry holds.
          if (![...values.values()].includes(v)) v.dispose();
        }
      }
    }
    return outputs.map((o) => values.get(o.id)!);
  }
}

/** Inverted dropout (as Keras): keeps each value with probability 1 - rate and scales it by 1 / (1 - rate). */
export function seededDropout(x: tf.Tensor, rate: number, rng: Rng): tf.Tensor {
  if (rate <= 0) return x;
  return tf.mul(x, tf.tensor(dropoutMask(x.size, rate, rng), x.shape));
}

/** The next `size` values of an inverted-dropout mask (0 or 1 / (1 - rate)), drawn from `rng` in order. */
export function dropoutMask(size: number, rate: number, rng: Rng, out = new Float32Array(size)): Float32Array {
  const scale = 1 / (1 - rate);
  for (let i = 0; i < size; i++) out[i] = rng.next() >= rate ? scale : 0;
  return out;
}

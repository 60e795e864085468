/**
 * One training replica (see parallel.ts): its own TF.js backend (workerData `{ backend }`) and a
 * copy of the model. Says `{ ready: true }` or `{ fatal }` once the backend is up, then answers
 * each request, in order: 'model' (topology and weights: builds the replica), 'stage' (weights,
 * trainable layers, shared buffers) and 'step' (its shard: gradient of the summed loss written
 * into its slot; loss sum and hits in the reply).
 */
import * as tf from '@tensorflow/tfjs';
import { parentPort, workerData } from 'node:worker_threads';
import { FtkError } from '../errors.js';
import { selectBackend } from '../runtime/backend.js';
import { registerWasmTrainingKernels } from '../runtime/wasm_gradients.js';
import { LayerGraph, type RunPolicy } from './graph.js';
import type { ReplicaRequest, ReplicaWorkerData, WeightRef } from './parallel.js';

const port = parentPort!;
const HEADER = 16;

function describe(err: unknown): { message: string; code?: string; suggestion?: string } {
  const e = err as Error;
  return err instanceof FtkError ? { message: e.message, code: err.code, suggestion: err.suggestion } : { message: e?.message ?? String(err) };
}

interface Stage {
  vars: { ref: WeightRef; variable: tf.LayerVariable }[];
  state: { ref: WeightRef; variable: tf.LayerVariable }[];
  varFloats: number;
  stateFloats: number;
  training: Set<string>;
  start: tf.SymbolicTensor[];
  micro: number;
  classes: number;
  params: Float32Array;
  paramsControl: Int32Array;
  slot: Float32Array;
  slotControl: Int32Array;
}

/** Sum over the rows of Keras' categorical cross-entropy (clip to [1e-7, 1 - 1e-7]). */
function crossEntropySum(probs: tf.Tensor, oneHot: tf.Tensor): tf.Scalar {
  return tf.neg(tf.sum(tf.mul(oneHot, tf.log(tf.clipByValue(probs, 1e-7, 1 - 1e-7))))) as tf.Scalar;
}

try {
  const data = workerData as ReplicaWorkerData;
  await selectBackend({ backend: data.backend });
  if (data.backend === 'wasm') registerWasmTrainingKernels();
  let model: tf.LayersModel | undefined;
  let graph: LayerGraph | undefined;
  let stage: Stage | undefined;

  const onModel = async (msg: Extract<ReplicaRequest, { type: 'model' }>): Promise<void> => {
    const m = await tf.models.modelFromJSON({ modelTopology: msg.topology as tf.io.ModelJSON['modelTopology'] });
    for (const w of msg.weights) {
      const layer = m.getLayer(w.layer);
      const tensors = w.values.map((v, i) => tf.tensor(v, layer.weights[i].shape as number[]));
      layer.setWeights(tensors);
      tf.dispose(tensors);
    }
    model?.dispose();
    model = m;
    graph = new LayerGraph(m);
  };

  const weightOf = (ref: WeightRef) => model!.getLayer(ref.layer).weights[ref.index];

  const onStage = (msg: Extract<ReplicaRequest, { type: 'stage' }>): void => {
    if (!model) throw new Error('stage before model');
    for (const w of msg.weights) {
      const v = model.getLayer(w.layer).weights[w.index];
      const t = tf.tensor(w.values, v.shape as number[]);
      v.write(t);
      t.dispose();
    }
    const trainable = new Set(msg.trainable);
    for (const layer of model.layers) layer.trainable = trainable.has(layer.name);
    const varFloats = msg.vars.reduce((n, r) => n + r.size, 0);
    const stateFloats = msg.state.reduce((n, r) => n + r.size, 0);
    const slotBytes = HEADER + 4 * (varFloats + stateFloats);
    stage = {
      vars: msg.vars.map((ref) => ({ ref, variable: weightOf(ref) })),
      state: msg.state.map((ref) => ({ ref, variable: weightOf(ref) })),
      varFloats,
      stateFloats,
      training: new Set(msg.training),
      start: msg.start.map((t) => (model!.getLayer(t.layer) as unknown as { inboundNodes: { outputTensors: tf.SymbolicTensor[] }[] }).inboundNodes[t.node].outputTensors[t.output]),
      micro: msg.micro,
      classes: msg.classes,
      params: new Float32Array(msg.params, HEADER, varFloats + stateFloats),
      paramsControl: new Int32Array(msg.params, 0, 1),
      slot: new Float32Array(msg.slots, msg.slot * slotBytes + HEADER, varFloats + stateFloats),
      slotControl: new Int32Array(msg.slots, msg.slot * slotBytes, 1),
    };
  };

  const onStep = async (msg: Extract<ReplicaRequest, { type: 'step' }>): Promise<{ lossSum: number; hits: number }> => {
    const st = stage!;
    Atomics.load(st.paramsControl, 0); // pairs with the main thread's Atomics.add after writing params
    let o = 0;
    for (const v of [...st.vars, ...st.state]) {
      const t = tf.tensor(st.params.subarray(o, o + v.ref.size), v.ref.shape);
      v.variable.write(t);
      t.dispose();
      o += v.ref.size;
    }
    const rows = msg.labels.length;
    const perImage = msg.feeds.map((f) => f.length / rows);
    const masks = new Map(msg.masks.map((m) => [m.layer, { values: m.values, perImage: m.values.length / rows }]));
    const vars = st.vars.map((v) => v.variable.read() as tf.Variable);
    let accumulated: tf.Tensor[] | undefined;
    let lossSum = 0;
    let hits = 0;
    for (let s = 0; s < rows; s += st.micro) {
      const n = Math.min(st.micro, rows - s);
      const feeds = new Map(st.start.map((t, j) => [t.id, tf.tensor(msg.feeds[j].subarray(s * perImage[j], (s + n) * perImage[j]), [n, ...(t.shape.slice(1) as number[])])]));
      const y = tf.oneHot(tf.tensor1d(msg.labels.subarray(s, s + n), 'int32'), st.classes);
      const policy: RunPolicy = {
        training: (layer) => st.training.has(layer.name),
        dropout: (layer, x) => {
          const m = masks.get(layer.name);
          return m ? tf.mul(x, tf.tensor(m.values.subarray(s * m.perImage, (s + n) * m.perImage), x.shape)) : x;
        },
      };
      let hitsT: tf.Scalar | undefined;
      const { value, grads } = tf.variableGrads(() => {
        const [p] = graph!.run(feeds, [model!.outputs[0]], policy);
        hitsT = tf.keep(tf.sum(tf.cast(tf.equal(tf.argMax(p, -1), tf.argMax(y, -1)), 'float32')) as tf.Scalar);
        return crossEntropySum(p, y);
      }, vars);
      const list = vars.map((v) => grads[v.name]);
      if (accumulated) {
        const prev = accumulated;
        accumulated = prev.map((a, i) => tf.add(a, list[i]));
        tf.dispose([...prev, ...list]);
      } else {
        accumulated = list;
      }
      lossSum += (await value.data())[0];
      hits += (await hitsT!.data())[0];
      tf.dispose([value, hitsT!, y, ...feeds.values()]);
    }
    o = 0;
    for (const g of accumulated!) {
      st.slot.set(g.dataSync() as Float32Array, o);
      o += g.size;
    }
    tf.dispose(accumulated!);
    for (const v of st.state) {
      st.slot.set(v.variable.read().dataSync() as Float32Array, o);
      o += v.ref.size;
    }
    Atomics.store(st.slotControl, 0, msg.step);
    return { lossSum, hits };
  };

  // Requests are handled one at a time, in order.
  let queue = Promise.resolve();
  port.on('message', (msg: ReplicaRequest) => {
    queue = queue.then(async () => {
      const step = msg.type === 'step' ? msg.step : -1;
      try {
        if (msg.type === 'model' || msg.type === 'stage') {
          if (msg.type === 'model') await onModel(msg);
          else onStage(msg);
          port.postMessage({ step, lossSum: 0, hits: 0 });
        } else {
          port.postMessage({ step, ...(await onStep(msg)) });
        }
      } catch (err) {
        port.postMessage({ step, error: describe(err) });
      }
    });
  });
  port.postMessage({ ready: true });
} catch (err) {
  port.postMessage({ fatal: describe(err) });
}

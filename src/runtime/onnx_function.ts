/**
 * A small computation written as an ONNX graph and run on ONNX Runtime's CPU kernels (MLAS:
 * blocked, vectorized, multi-threaded): what ftk's linear classifiers use for the matrix products
 * and element-wise steps of every loss-and-gradient evaluation over all rows
 * (src/classify/linear_gemm.ts). `GraphBuilder` writes the graph, `OnnxFunction` runs it.
 *
 * Inputs are passed without a copy; ONNX Runtime refuses typed arrays over a SharedArrayBuffer
 * ("Invalid argument"), so callers hand it plain ArrayBuffers.
 */
import type * as Ort from 'onnxruntime-node';
import { AttributeType, DataType, encodeModel, IR_VERSION, type Attribute, type Node, type Tensor, type ValueInfo } from './onnx_proto.js';
import { loadOnnxRuntime } from './onnx_engine.js';

type Dim = number | string;
type ElemType = 'float32' | 'int64';
const ELEM: Record<ElemType, number> = { float32: DataType.FLOAT, int64: DataType.INT64 };

const valueInfo = (name: string, type: ElemType, dims: Dim[]): ValueInfo => ({
  name,
  type: { tensorType: { elemType: ELEM[type], shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } },
});

/** Builds a single-graph ONNX model (opset 13) node by node; names are the caller's. */
export class GraphBuilder {
  private readonly nodes: Node[] = [];
  private readonly inits: Tensor[] = [];
  private readonly inputs: ValueInfo[] = [];
  private readonly outputs: ValueInfo[] = [];
  private count = 0;

  input(name: string, type: ElemType, dims: Dim[]): string {
    this.inputs.push(valueInfo(name, type, dims));
    return name;
  }

  output(name: string, type: ElemType, dims: Dim[]): void {
    this.outputs.push(valueInfo(name, type, dims));
  }

  /** A float32 constant (initializer). */
  float(values: number[], dims: number[] = [values.length]): string {
    const name = `const_${this.count++}`;
    this.inits.push({ name, dims, dataType: DataType.FLOAT, rawData: new Uint8Array(Float32Array.from(values).buffer) });
    return name;
  }

  /** An int64 constant (initializer). */
  int64(values: number[]): string {
    const name = `const_${this.count++}`;
    this.inits.push({ name, dims: [values.length], dataType: DataType.INT64, rawData: new Uint8Array(BigInt64Array.from(values.map(BigInt)).buffer) });
    return name;
  }

  /** One node; `out` names its output (default: a fresh name). Integer attributes only. */
  op(opType: string, input: string[], attrs: Record<string, number> = {}, out?: string): string {
    const output = out ?? `${opType.toLowerCase()}_${this.count++}`;
    const attribute: Attribute[] = Object.entries(attrs).map(([name, i]) => ({ name, type: AttributeType.INT, i }));
    this.nodes.push({ input, output: [output], opType, name: output, ...(attribute.length ? { attribute } : {}) });
    return output;
  }

  encode(name: string): Uint8Array {
    return encodeModel({
      irVersion: IR_VERSION,
      opsetImport: [{ domain: '', version: 13 }],
      producerName: 'ftk',
      graph: { name, node: this.nodes, initializer: this.inits, input: this.inputs, output: this.outputs },
    });
  }
}

export type Feed = { type: 'float32'; data: Float32Array; dims: number[] } | { type: 'int64'; data: BigInt64Array; dims: number[] };

export class OnnxFunction {
  private constructor(
    private readonly ort: typeof Ort,
    private readonly session: Ort.InferenceSession,
  ) {}

  /** A session on `model` with `threads` intra-op threads (graph optimizations on: fused element-wise steps). */
  static async create(model: Uint8Array, threads: number): Promise<OnnxFunction> {
    const ort = (await loadOnnxRuntime()) as unknown as typeof Ort;
    // The CPU arena stays on: without it the peak memory of a fit on 60,000 x 1,280 features was
    // higher, not lower (435 MB against 423 MB, bench/linear/memory.jsonl of 2026-12-02).
    const session = await ort.InferenceSession.create(model, { intraOpNumThreads: Math.max(1, threads), interOpNumThreads: 1, executionMode: 'sequential' });
    return new OnnxFunction(ort, session);
  }

  /** A tensor to pass to `run` again and again (built once: large inputs stay where they are). */
  tensor(feed: Feed): Ort.Tensor {
    return new this.ort.Tensor(feed.type, feed.data, feed.dims);
  }

  /** Runs the graph; returns each output's float32 data. */
  async run(feeds: Record<string, Ort.Tensor | Feed>): Promise<Record<string, Float32Array>> {
    const inputs: Record<string, Ort.Tensor> = {};
    for (const [k, v] of Object.entries(feeds)) inputs[k] = v instanceof this.ort.Tensor ? v : this.tensor(v as Feed);
    const out = await this.session.run(inputs);
    const result: Record<string, Float32Array> = {};
    for (const [k, v] of Object.entries(out)) result[k] = v.data as Float32Array;
    return result;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

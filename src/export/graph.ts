/**
 * A small ONNX graph builder for the classifier export: named values, typed constants
 * (float32, float64, int64) and nodes, plus `inlineModel`, which copies an ONNX model written by
 * ftk's backbone exporter (src/runtime/onnx_export.ts) into the graph under a name prefix, so the
 * backbone's layer names can never collide with the classifier's own values.
 *
 * Opset 13 (ONNX 1.8): `Resize` without antialiasing (antialias arrived in opset 18 and defaults
 * to off there too), `ReduceSum`/`Unsqueeze`/`Squeeze`/`Slice` with axes as inputs. Every
 * operator used is in the default ONNX domain: no custom or `ai.onnx.ml` operators.
 */
import { ONNX_OPSET } from '../runtime/onnx_export.js';
import { AttributeType, decodeModel, type Attribute, type Node, type Tensor, type ValueInfo } from '../runtime/onnx_proto.js';

/** `TensorProto.DataType` values used by the export (onnx_proto.ts lists only ftk's backbone types). */
export const ElemType = { FLOAT: 1, UINT8: 2, INT64: 7, BOOL: 9, DOUBLE: 11 } as const;

/** Opset of the exported classifier: the backbone exporter's, so the two graphs share one. */
export const CLASSIFIER_OPSET = ONNX_OPSET;

type AttrValue = number | number[] | string | { f: number };

function attribute(name: string, value: AttrValue): Attribute {
  if (typeof value === 'string') return { name, type: AttributeType.STRING, s: new TextEncoder().encode(value) };
  if (Array.isArray(value)) return { name, type: AttributeType.INTS, ints: value };
  if (typeof value === 'object') return { name, type: AttributeType.FLOAT, f: value.f };
  return { name, type: AttributeType.INT, i: value };
}

export class ClassifierGraph {
  readonly nodes: Node[] = [];
  /** Where `op` appends: the main graph, or a subgraph being built by `subgraph`. */
  private target: Node[] = this.nodes;
  readonly initializers: Tensor[] = [];
  private readonly used = new Set<string>();
  private counter = 0;

  /** A fresh value name under the `ftk/` prefix. */
  fresh(base: string): string {
    let name = `ftk/${base}`;
    while (this.used.has(name)) name = `ftk/${base}_${++this.counter}`;
    this.used.add(name);
    return name;
  }

  /** Reserves a name given verbatim (graph inputs and outputs). */
  reserve(name: string): string {
    this.used.add(name);
    return name;
  }

  /** Adds a node; returns its (single) output, `out` when given. */
  op(opType: string, inputs: string[], base: string, attrs: Record<string, AttrValue> = {}, out?: string): string {
    const output = out ?? this.fresh(base);
    this.target.push({
      opType,
      input: inputs,
      output: [output],
      name: output,
      attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
    });
    return output;
  }

  /** Adds a node with several outputs (names already taken with `fresh` or `reserve`, e.g. TopK's values and indices). */
  opMulti(opType: string, inputs: string[], outputs: string[], attrs: Record<string, AttrValue> = {}): string[] {
    outputs.forEach((o) => this.used.add(o));
    this.target.push({ opType, input: inputs, output: outputs, name: outputs[0], attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)) });
    return outputs;
  }

  private readonly small = new Map<string, string>();

  /** An initializer; small constants with the same base name, type and value are shared. */
  private tensor(base: string, dims: number[], dataType: number, bytes: Uint8Array): string {
    const key = bytes.length <= 256 ? `${base}|${dataType}|${dims.join(',')}|${Buffer.from(bytes).toString('hex')}` : undefined;
    const known = key === undefined ? undefined : this.small.get(key);
    if (known) return known;
    const name = this.fresh(base);
    this.initializers.push({ name, dims, dataType, rawData: bytes });
    if (key !== undefined) this.small.set(key, name);
    return name;
  }

  bool(base: string, dims: number[], values: boolean[]): string {
    return this.tensor(base, dims, ElemType.BOOL, Uint8Array.from(values.map((v) => (v ? 1 : 0))));
  }

  float(base: string, dims: number[], values: ArrayLike<number>): string {
    return this.tensor(base, dims, ElemType.FLOAT, new Uint8Array(Float32Array.from(values).buffer));
  }

  double(base: string, dims: number[], values: ArrayLike<number>): string {
    return this.tensor(base, dims, ElemType.DOUBLE, new Uint8Array(Float64Array.from(values).buffer));
  }

  int64(base: string, values: number[], dims: number[] = [values.length]): string {
    return this.tensor(base, dims, ElemType.INT64, new Uint8Array(BigInt64Array.from(values.map((v) => BigInt(v))).buffer));
  }

  /**
   * Nodes added by `build` go into a subgraph (a Loop body) instead of the main graph. Names stay
   * unique across both (ONNX forbids shadowing); constants stay in the main graph, which a
   * subgraph may read.
   */
  subgraph(build: () => void): Node[] {
    const saved = this.target;
    const nodes: Node[] = [];
    this.target = nodes;
    try {
      build();
    } finally {
      this.target = saved;
    }
    return nodes;
  }

  /** Adds a node whose attribute `name` holds a graph (Loop's body); returns its outputs. */
  opWithGraph(opType: string, inputs: string[], outputs: string[], name: string, body: { name: string; node: Node[]; input: ValueInfo[]; output: ValueInfo[] }): string[] {
    outputs.forEach((o) => this.used.add(o));
    this.target.push({ opType, input: inputs, output: outputs, name: outputs[0], attribute: [{ name, type: 5, g: { ...body, initializer: [] } } as unknown as Attribute] });
    return outputs;
  }

  cast(x: string, to: number, base = 'cast'): string {
    return this.op('Cast', [x], base, { to });
  }

  /**
   * Copies the nodes and weights of an ONNX model (ftk's backbone exporter's output: one input,
   * one or more outputs) into this graph with every name prefixed; `input` feeds the model's input.
   * Returns the names of the model's outputs here (`output`: the first).
   */
  inlineModel(bytes: Uint8Array, prefix: string, input: string): { output: string; outputs: string[]; opsets: Record<string, number> } {
    const model = decodeModel(bytes);
    const g = model.graph;
    const inits = new Set((g.initializer ?? []).map((t) => t.name));
    const realInputs = (g.input ?? []).filter((i) => !inits.has(i.name));
    if (realInputs.length !== 1 || (g.output ?? []).length < 1) {
      throw new Error(`the backbone graph has ${realInputs.length} inputs and ${(g.output ?? []).length} outputs (ftk inlines graphs with one input and at least one output)`);
    }
    const inName = realInputs[0].name;
    const rename = (n: string): string => (n === '' ? '' : n === inName ? input : `${prefix}${n}`);
    for (const t of g.initializer ?? []) {
      const name = rename(t.name);
      this.used.add(name);
      this.initializers.push({ ...t, name });
    }
    for (const n of g.node ?? []) {
      const outs = (n.output ?? []).map(rename);
      outs.forEach((o) => this.used.add(o));
      this.nodes.push({ ...n, name: n.name ? `${prefix}${n.name}` : undefined, input: (n.input ?? []).map(rename), output: outs });
    }
    const opsets: Record<string, number> = {};
    for (const o of model.opsetImport ?? []) opsets[o.domain ?? ''] = Number(o.version);
    const outputs = g.output.map((o) => rename(o.name));
    return { output: outputs[0], outputs, opsets };
  }
}

/** A tensor type with symbolic (string) or fixed (number) dimensions. */
export function valueInfo(name: string, elemType: number, dims: (number | string)[]): ValueInfo {
  return {
    name,
    type: { tensorType: { elemType, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } },
  };
}

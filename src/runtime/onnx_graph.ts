/**
 * Reading and editing ONNX files that ftk did not write (torch.onnx.export, timm, tf2onnx, MXNet,
 * Caffe converters), at the protobuf wire level.
 *
 * Why the wire level: ftk's schema (onnx_proto.ts) declares only the messages it needs, and a
 * protobuf decode + encode drops every field it does not declare (local functions, sparse
 * initializers, external-data records, newer fields). Editing the bytes instead keeps every field
 * of the original file exactly: the graph's fields are copied as they are, except the ones an edit
 * replaces (inputs, outputs, the node list when pruned), and protobuf's rule that repeated fields
 * concatenate lets new nodes be appended as more bytes.
 *
 * What ftk edits (`adaptOnnxGraph`): one image input becomes `ftk_input`, float32 NHWC
 * `[batch, S, S, 3]` (the layout ftk's pipeline produces), followed by a `Transpose` to the graph's
 * NCHW input (or an `Identity` for NHWC graphs); the graph outputs become one output `ftk_output`,
 * an `Identity` of the chosen tensor (any node output: ONNX Runtime for Node can only fetch graph
 * outputs); nodes the chosen tensor does not depend on are dropped (a classifier head after the
 * bottleneck is never computed).
 */
import protobuf from 'protobufjs/light.js';
import { RuntimeError } from '../errors.js';
import { AttributeType, DataType, onnxMessageType, type Node, type ValueInfo } from './onnx_proto.js';

const WIRE_LEN = 2;

interface WireField {
  field: number;
  wireType: number;
  /** The field's bytes, tag included (to copy it unchanged). */
  raw: Uint8Array;
  /** Payload of a length-delimited field. */
  payload?: Uint8Array;
}

function* wireFields(buf: Uint8Array): Generator<WireField> {
  const r = protobuf.Reader.create(buf);
  while (r.pos < r.len) {
    const start = r.pos;
    const tag = r.uint32();
    const field = tag >>> 3;
    const wireType = tag & 7;
    let payload: Uint8Array | undefined;
    if (wireType === WIRE_LEN) payload = r.bytes();
    else r.skipType(wireType);
    yield { field, wireType, raw: buf.subarray(start, r.pos), payload };
  }
}

function firstString(buf: Uint8Array, fieldNumber: number): string | undefined {
  for (const f of wireFields(buf)) if (f.field === fieldNumber && f.payload) return new TextDecoder().decode(f.payload);
  return undefined;
}

function varintField(buf: Uint8Array, fieldNumber: number): number | undefined {
  const r = protobuf.Reader.create(buf);
  while (r.pos < r.len) {
    const tag = r.uint32();
    if (tag >>> 3 === fieldNumber && (tag & 7) === 0) return Number(r.int64());
    r.skipType(tag & 7);
  }
  return undefined;
}

const decode = <T>(type: 'NodeProto' | 'ValueInfoProto' | 'OperatorSetIdProto' | 'StringStringEntryProto', bytes: Uint8Array): T => {
  const t = onnxMessageType(type);
  return t.toObject(t.decode(bytes), { longs: Number, defaults: false, arrays: true }) as T;
};

/** One tensor dimension: a number, a symbolic name, or null when unknown. */
export type Dim = number | string | null;

export interface OnnxTensorInfo {
  name: string;
  /** ONNX element type (1 = float32), undefined when the file does not say. */
  elemType?: number;
  /** undefined when the file declares no shape. */
  dims?: Dim[];
}

export interface OnnxNodeInfo {
  name: string;
  opType: string;
  domain: string;
  inputs: string[];
  outputs: string[];
  /** The node holds subgraphs (If, Loop, Scan), which may read any outer value. */
  hasSubgraph: boolean;
}

/** What ftk needs to know about a foreign ONNX file, read without decoding its weights. */
export interface OnnxGraphSummary {
  irVersion?: number;
  /** Opset per domain ('' = the default ONNX domain). */
  opsets: Record<string, number>;
  producer: string;
  /** Graph inputs that are not initializers (the real inputs). */
  inputs: OnnxTensorInfo[];
  outputs: OnnxTensorInfo[];
  /** Shapes recorded for intermediate values (often absent). */
  valueInfo: Map<string, OnnxTensorInfo>;
  nodes: OnnxNodeInfo[];
  initializers: Set<string>;
  /** Initializers whose data lives in separate files. */
  externalData: string[];
  metadata: Record<string, string>;
}

function tensorInfo(v: ValueInfo): OnnxTensorInfo {
  const t = v.type?.tensorType;
  const dims = t?.shape?.dim?.map((d): Dim => (d.dimValue !== undefined ? Number(d.dimValue) : d.dimParam ? d.dimParam : null));
  return { name: v.name, elemType: t?.elemType, dims: t?.shape ? (dims ?? []) : undefined };
}

function graphBytes(model: Uint8Array): { graph: Uint8Array; fields: WireField[] } {
  const fields = [...wireFields(model)];
  const graph = fields.find((f) => f.field === 7 && f.payload)?.payload;
  if (!graph) throw new RuntimeError('Not an ONNX model: the file has no graph.', { code: 'ONNX_NOT_A_MODEL', suggestion: 'Pass a .onnx file written by torch.onnx.export, tf2onnx or another ONNX exporter.' });
  return { graph, fields };
}

/**
 * Reads the structure of an ONNX model: opsets, inputs, outputs, nodes, initializer names,
 * metadata. Weights are skipped, not decoded. Throws RuntimeError 'ONNX_NOT_A_MODEL' for bytes
 * that are not an ONNX ModelProto.
 */
export function readOnnxSummary(model: Uint8Array): OnnxGraphSummary {
  let parsed: { graph: Uint8Array; fields: WireField[] };
  try {
    parsed = graphBytes(model);
  } catch (err) {
    if (err instanceof RuntimeError) throw err;
    throw new RuntimeError(`Not an ONNX model: ${(err as Error).message}.`, { code: 'ONNX_NOT_A_MODEL', suggestion: 'Pass a .onnx file written by torch.onnx.export, tf2onnx or another ONNX exporter.', cause: err });
  }
  const summary: OnnxGraphSummary = { opsets: {}, producer: '', inputs: [], outputs: [], valueInfo: new Map(), nodes: [], initializers: new Set(), externalData: [], metadata: {} };
  let producerName = '';
  let producerVersion = '';
  try {
    for (const f of parsed.fields) {
      if (f.field === 1 && f.wireType === 0) summary.irVersion = varintField(f.raw, 1);
      else if (f.field === 2 && f.payload) producerName = new TextDecoder().decode(f.payload);
      else if (f.field === 3 && f.payload) producerVersion = new TextDecoder().decode(f.payload);
      else if (f.field === 8 && f.payload) {
        const o = decode<{ domain?: string; version?: number }>('OperatorSetIdProto', f.payload);
        summary.opsets[o.domain ?? ''] = Number(o.version ?? 0);
      } else if (f.field === 14 && f.payload) {
        const e = decode<{ key?: string; value?: string }>('StringStringEntryProto', f.payload);
        if (e.key) summary.metadata[e.key] = e.value ?? '';
      }
    }
    const inputs: OnnxTensorInfo[] = [];
    for (const f of wireFields(parsed.graph)) {
      if (!f.payload) continue;
      switch (f.field) {
        case 1: {
          const n = decode<{ name?: string; opType: string; domain?: string; input?: string[]; output?: string[]; attribute?: { type?: number; g?: unknown; graphs?: unknown[] }[] }>('NodeProto', f.payload);
          summary.nodes.push({
            name: n.name ?? '',
            opType: n.opType,
            domain: n.domain ?? '',
            inputs: n.input ?? [],
            outputs: n.output ?? [],
            hasSubgraph: (n.attribute ?? []).some((a) => a.g !== undefined || (a.graphs?.length ?? 0) > 0 || a.type === 5 || a.type === 10),
          });
          break;
        }
        case 5:
        case 15: {
          // TensorProto name is field 8; a SparseTensorProto (15) names its values tensor (field 1).
          const tensor = f.field === 5 ? f.payload : [...wireFields(f.payload)].find((x) => x.field === 1)?.payload;
          const name = tensor ? firstString(tensor, 8) : undefined;
          if (name !== undefined) {
            summary.initializers.add(name);
            if (f.field === 5 && varintField(f.payload, 14) === 1) summary.externalData.push(name);
          }
          break;
        }
        case 11:
          inputs.push(tensorInfo(decode<ValueInfo>('ValueInfoProto', f.payload)));
          break;
        case 12:
          summary.outputs.push(tensorInfo(decode<ValueInfo>('ValueInfoProto', f.payload)));
          break;
        case 13: {
          const v = tensorInfo(decode<ValueInfo>('ValueInfoProto', f.payload));
          summary.valueInfo.set(v.name, v);
          break;
        }
        default:
          break;
      }
    }
    summary.inputs = inputs.filter((i) => !summary.initializers.has(i.name));
  } catch (err) {
    throw new RuntimeError(`Not a readable ONNX model: ${(err as Error).message}.`, { code: 'ONNX_NOT_A_MODEL', suggestion: 'Check the file is a complete .onnx file (not truncated, not a Git LFS pointer).', cause: err });
  }
  summary.producer = [producerName, producerVersion].filter(Boolean).join(' ');
  return summary;
}

/** Names of the values a node list produces, in graph order (the candidates for a bottleneck). */
export function nodeOutputNames(summary: OnnxGraphSummary): string[] {
  return summary.nodes.flatMap((n) => n.outputs).filter((o) => o !== '');
}

/** The nodes `targets` depend on (in their original order), or every node if a node has subgraphs. */
function requiredNodes(nodes: OnnxNodeInfo[], targets: string[]): Set<number> {
  if (nodes.some((n) => n.hasSubgraph)) return new Set(nodes.map((_, i) => i));
  const producer = new Map<string, number>();
  nodes.forEach((n, i) => n.outputs.forEach((o) => producer.set(o, i)));
  const keep = new Set<number>();
  const stack = [...targets];
  while (stack.length) {
    const name = stack.pop()!;
    const i = producer.get(name);
    if (i === undefined || keep.has(i)) continue;
    keep.add(i);
    for (const input of nodes[i].inputs) if (input) stack.push(input);
  }
  return keep;
}

export interface AdaptPlan {
  /** The graph's image input. */
  inputName: string;
  /** Its layout: NCHW gets a Transpose from ftk's NHWC input. */
  inputLayout: 'nchw' | 'nhwc';
  /** Batch size of `ftk_input`: a number when the graph fixes it, else symbolic. */
  batch: number | null;
  /** Square input size. */
  size: number;
  /** Values to output (each becomes a graph output; the first is named `ftk_output`, the others keep their names). */
  outputs: string[];
}

function encodeMessage(type: 'NodeProto' | 'ValueInfoProto', value: object): Uint8Array {
  const t = onnxMessageType(type);
  return t.encode(t.fromObject(value as Record<string, unknown>)).finish();
}

function fieldBytes(field: number, payload: Uint8Array): Uint8Array {
  return protobuf.Writer.create().uint32((field << 3) | WIRE_LEN).bytes(payload).finish();
}

function concat(parts: Uint8Array[]): Uint8Array {
  const total = parts.reduce((a, p) => a + p.length, 0);
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export const ADAPTED_INPUT = 'ftk_input';
export const ADAPTED_OUTPUT = 'ftk_output';

/**
 * A copy of `model` that takes ftk's NHWC float32 images and outputs the planned values (see the
 * module notes). Every other field of the file is kept byte for byte.
 */
export function adaptOnnxGraph(model: Uint8Array, summary: OnnxGraphSummary, plan: AdaptPlan): Uint8Array {
  const { graph, fields } = graphBytes(model);
  const keep = requiredNodes(summary.nodes, plan.outputs);
  const parts: Uint8Array[] = [];
  let nodeIndex = 0;
  for (const f of wireFields(graph)) {
    if (f.field === 1) {
      if (keep.has(nodeIndex++)) parts.push(f.raw);
    } else if (f.field === 12) {
      continue; // outputs are replaced
    } else if (f.field === 11 && f.payload) {
      // The image input is replaced by ftk_input; initializer-inputs of old exporters stay.
      if (firstString(f.payload, 1) !== plan.inputName) parts.push(f.raw);
    } else {
      parts.push(f.raw);
    }
  }
  const batchDim = plan.batch === null ? { dimParam: 'batch' } : { dimValue: plan.batch };
  const input: ValueInfo = {
    name: ADAPTED_INPUT,
    type: { tensorType: { elemType: DataType.FLOAT, shape: { dim: [batchDim, { dimValue: plan.size }, { dimValue: plan.size }, { dimValue: 3 }] } } },
  };
  parts.push(fieldBytes(11, encodeMessage('ValueInfoProto', input)));
  const adapter: Node =
    plan.inputLayout === 'nchw'
      ? { opType: 'Transpose', name: 'ftk_nhwc_to_nchw', input: [ADAPTED_INPUT], output: [plan.inputName], attribute: [{ name: 'perm', type: AttributeType.INTS, ints: [0, 3, 1, 2] }] }
      : { opType: 'Identity', name: 'ftk_input_identity', input: [ADAPTED_INPUT], output: [plan.inputName] };
  parts.push(fieldBytes(1, encodeMessage('NodeProto', adapter)));
  plan.outputs.forEach((name, k) => {
    // An output without a declared type: ONNX Runtime infers it (unknown shapes are normal here).
    if (k === 0) {
      parts.push(fieldBytes(1, encodeMessage('NodeProto', { opType: 'Identity', name: 'ftk_output_identity', input: [name], output: [ADAPTED_OUTPUT] })));
      parts.push(fieldBytes(12, encodeMessage('ValueInfoProto', { name: ADAPTED_OUTPUT })));
    } else {
      parts.push(fieldBytes(12, encodeMessage('ValueInfoProto', { name })));
    }
  });
  const newGraph = concat(parts);
  return concat(fields.map((f) => (f.field === 7 ? fieldBytes(7, newGraph) : f.raw)));
}

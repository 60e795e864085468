/**
 * The part of ONNX's protobuf schema (`onnx/onnx.proto`, IR version 7) that ftk writes and reads:
 * ModelProto, GraphProto, NodeProto, AttributeProto, TensorProto, ValueInfoProto and the types
 * they need. Field numbers are ONNX's (they never change in protobuf); fields ftk never sets
 * (training info, sparse tensors, segments, quantization annotations, functions) are left out,
 * which protobuf readers treat as absent.
 *
 * Encoded with protobufjs (reflection, no generated code). Why protobufjs rather than the
 * `onnx-proto` package: `onnx-proto` is protobufjs 6 code generated from ONNX 1.10, kept by one
 * person, and pins protobufjs ^6 (a major behind, with an install script); protobufjs itself is
 * the maintained, dependency-light (only `long`) library it is built on, and ftk needs these few
 * messages only. See src/formats/README.md, "ONNX export".
 */
import protobuf from 'protobufjs/light.js';

/** `TensorProto.DataType` values ftk uses. */
export const DataType = { FLOAT: 1, INT64: 7 } as const;

/** `AttributeProto.AttributeType` values ftk uses. */
export const AttributeType = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, FLOATS: 6, INTS: 7 } as const;

/** IR version 7 (ONNX 1.7+): read by every ONNX Runtime since 1.3. */
export const IR_VERSION = 7;

export interface OperatorSetId {
  domain?: string;
  version: number;
}

export interface Tensor {
  name: string;
  dims: number[];
  dataType: number;
  /** Little-endian element bytes. */
  rawData: Uint8Array;
}

export interface Attribute {
  name: string;
  type: number;
  f?: number;
  i?: number;
  s?: Uint8Array;
  t?: Tensor;
  floats?: number[];
  ints?: number[];
}

export interface Node {
  input: string[];
  output: string[];
  name?: string;
  opType: string;
  domain?: string;
  attribute?: Attribute[];
  docString?: string;
}

export interface Dimension {
  dimValue?: number;
  dimParam?: string;
}

export interface ValueInfo {
  name: string;
  type: { tensorType: { elemType: number; shape: { dim: Dimension[] } } };
  docString?: string;
}

export interface Graph {
  node: Node[];
  name: string;
  initializer: Tensor[];
  docString?: string;
  input: ValueInfo[];
  output: ValueInfo[];
  valueInfo?: ValueInfo[];
}

export interface StringStringEntry {
  key: string;
  value: string;
}

export interface Model {
  irVersion: number;
  opsetImport: OperatorSetId[];
  producerName?: string;
  producerVersion?: string;
  domain?: string;
  modelVersion?: number;
  docString?: string;
  graph: Graph;
  metadataProps?: StringStringEntry[];
}

const schema = {
  nested: {
    onnx: {
      nested: {
        AttributeProto: {
          fields: {
            name: { type: 'string', id: 1 },
            refAttrName: { type: 'string', id: 21 },
            docString: { type: 'string', id: 13 },
            type: { type: 'int32', id: 20 },
            f: { type: 'float', id: 2 },
            i: { type: 'int64', id: 3 },
            s: { type: 'bytes', id: 4 },
            t: { type: 'TensorProto', id: 5 },
            g: { type: 'GraphProto', id: 6 },
            floats: { rule: 'repeated', type: 'float', id: 7 },
            ints: { rule: 'repeated', type: 'int64', id: 8 },
            strings: { rule: 'repeated', type: 'bytes', id: 9 },
            tensors: { rule: 'repeated', type: 'TensorProto', id: 10 },
            graphs: { rule: 'repeated', type: 'GraphProto', id: 11 },
          },
        },
        ValueInfoProto: {
          fields: {
            name: { type: 'string', id: 1 },
            type: { type: 'TypeProto', id: 2 },
            docString: { type: 'string', id: 3 },
          },
        },
        NodeProto: {
          fields: {
            input: { rule: 'repeated', type: 'string', id: 1 },
            output: { rule: 'repeated', type: 'string', id: 2 },
            name: { type: 'string', id: 3 },
            opType: { type: 'string', id: 4 },
            domain: { type: 'string', id: 7 },
            attribute: { rule: 'repeated', type: 'AttributeProto', id: 5 },
            docString: { type: 'string', id: 6 },
          },
        },
        ModelProto: {
          fields: {
            irVersion: { type: 'int64', id: 1 },
            opsetImport: { rule: 'repeated', type: 'OperatorSetIdProto', id: 8 },
            producerName: { type: 'string', id: 2 },
            producerVersion: { type: 'string', id: 3 },
            domain: { type: 'string', id: 4 },
            modelVersion: { type: 'int64', id: 5 },
            docString: { type: 'string', id: 6 },
            graph: { type: 'GraphProto', id: 7 },
            metadataProps: { rule: 'repeated', type: 'StringStringEntryProto', id: 14 },
          },
        },
        StringStringEntryProto: {
          fields: {
            key: { type: 'string', id: 1 },
            value: { type: 'string', id: 2 },
          },
        },
        GraphProto: {
          fields: {
            node: { rule: 'repeated', type: 'NodeProto', id: 1 },
            name: { type: 'string', id: 2 },
            initializer: { rule: 'repeated', type: 'TensorProto', id: 5 },
            docString: { type: 'string', id: 10 },
            input: { rule: 'repeated', type: 'ValueInfoProto', id: 11 },
            output: { rule: 'repeated', type: 'ValueInfoProto', id: 12 },
            valueInfo: { rule: 'repeated', type: 'ValueInfoProto', id: 13 },
          },
        },
        TensorProto: {
          fields: {
            dims: { rule: 'repeated', type: 'int64', id: 1 },
            dataType: { type: 'int32', id: 2 },
            floatData: { rule: 'repeated', type: 'float', id: 4, options: { packed: true } },
            int32Data: { rule: 'repeated', type: 'int32', id: 5, options: { packed: true } },
            int64Data: { rule: 'repeated', type: 'int64', id: 7, options: { packed: true } },
            name: { type: 'string', id: 8 },
            docString: { type: 'string', id: 12 },
            rawData: { type: 'bytes', id: 9 },
            stringData: { rule: 'repeated', type: 'bytes', id: 6 },
            doubleData: { rule: 'repeated', type: 'double', id: 10, options: { packed: true } },
            uint64Data: { rule: 'repeated', type: 'uint64', id: 11, options: { packed: true } },
            externalData: { rule: 'repeated', type: 'StringStringEntryProto', id: 13 },
            dataLocation: { type: 'int32', id: 14 },
          },
        },
        TensorShapeProto: {
          fields: {
            dim: { rule: 'repeated', type: 'Dimension', id: 1 },
          },
          nested: {
            Dimension: {
              oneofs: { value: { oneof: ['dimValue', 'dimParam'] } },
              fields: {
                dimValue: { type: 'int64', id: 1 },
                dimParam: { type: 'string', id: 2 },
                denotation: { type: 'string', id: 3 },
              },
            },
          },
        },
        TypeProto: {
          oneofs: { value: { oneof: ['tensorType'] } },
          fields: {
            tensorType: { type: 'Tensor', id: 1 },
            denotation: { type: 'string', id: 6 },
          },
          nested: {
            Tensor: {
              fields: {
                elemType: { type: 'int32', id: 1 },
                shape: { type: 'TensorShapeProto', id: 2 },
              },
            },
          },
        },
        OperatorSetIdProto: {
          fields: {
            domain: { type: 'string', id: 1 },
            version: { type: 'int64', id: 2 },
          },
        },
      },
    },
  },
};

let root: protobuf.Root | undefined;
let modelType: protobuf.Type | undefined;

/** One message type of the schema above, e.g. 'NodeProto' (for reading parts of foreign files). */
export function onnxMessageType(name: 'ModelProto' | 'GraphProto' | 'NodeProto' | 'ValueInfoProto' | 'TensorProto' | 'OperatorSetIdProto' | 'StringStringEntryProto'): protobuf.Type {
  root ??= protobuf.Root.fromJSON(schema);
  return root.lookupType(`onnx.${name}`);
}

function ModelProto(): protobuf.Type {
  if (!modelType) modelType = onnxMessageType('ModelProto');
  return modelType;
}

/** Serializes a model to ONNX protobuf bytes. */
export function encodeModel(model: Model): Uint8Array {
  const type = ModelProto();
  return type.encode(type.fromObject(model as unknown as Record<string, unknown>)).finish();
}

/**
 * Parses ONNX protobuf bytes (the fields above; others are skipped). 64-bit integers come back
 * as numbers, bytes as Uint8Array.
 */
export function decodeModel(bytes: Uint8Array): Model {
  const type = ModelProto();
  return type.toObject(type.decode(bytes), { longs: Number, defaults: false, arrays: true }) as unknown as Model;
}

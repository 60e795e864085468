/**
 * A one-operator ONNX graph (y = relu(x), x float32 [N, 1, 1, 3]): what the device probes open a
 * session on to learn whether an execution provider loads, without exporting a real model.
 */
import { DataType, encodeModel, IR_VERSION, type ValueInfo } from './onnx_proto.js';

const io = (name: string): ValueInfo => ({
  name,
  type: { tensorType: { elemType: DataType.FLOAT, shape: { dim: [{ dimParam: 'N' }, { dimValue: 1 }, { dimValue: 1 }, { dimValue: 3 }] } } },
});

export function tinyOnnxGraph(): Uint8Array {
  return encodeModel({
    irVersion: IR_VERSION,
    opsetImport: [{ domain: '', version: 13 }],
    producerName: 'ftk-device-probe',
    graph: { name: 'probe', node: [{ input: ['x'], output: ['y'], opType: 'Relu', name: 'relu' }], initializer: [], input: [io('x')], output: [io('y')] },
  });
}

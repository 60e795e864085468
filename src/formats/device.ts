/**
 * Which device ran a model, as recorded in features.json (`device`), a fine-tuned model's ftk.json
 * (`device`), run.json (`runtime.device`) and the report. See src/formats/README.md, "Device".
 */

/** A value of `--device` (`device` in the library options). */
export type DeviceName = 'auto' | 'cpu' | 'gpu' | 'webgpu' | 'cuda';
export const DEVICE_NAMES: readonly DeviceName[] = Object.freeze(['auto', 'cpu', 'gpu', 'webgpu', 'cuda'] as const);

/** An ONNX Runtime execution provider ftk uses. */
export type ProviderName = 'cpu' | 'webgpu' | 'cuda';

export interface DeviceRecord {
  /** What was asked for (`--device`). */
  requested: DeviceName;
  /** The device chosen: its ONNX Runtime execution provider. */
  provider: ProviderName;
  /** Why that device ('requested', or the reason of the automatic choice). */
  reason: string;
  /** WebGPU: the adapter, e.g. 'llvmpipe: Mesa 25.0.7 (LLVM 15.0.6)'. */
  adapter?: string;
  /** WebGPU: true for software adapters (lavapipe, SwiftShader). */
  software?: boolean;
  /**
   * The execution providers the model's ONNX Runtime session actually ran on, read back from the
   * session (e.g. ['webgpu'], or ['webgpu', 'cpu'] when some operators fell back to the CPU);
   * absent when ONNX Runtime did not run the model (TF.js, or every row from the cache).
   */
  onnxProviders?: string[];
  /** The TF.js backend that trained the model (fine-tuning), e.g. 'webgpu', 'wasm'. */
  trainingBackend?: string;
}

/** One line for reports: 'webgpu (llvmpipe: Mesa 25.0.7, software; ONNX Runtime on webgpu)'. */
export function describeDevice(d: DeviceRecord): string {
  const parts: string[] = [];
  if (d.adapter) parts.push(`${d.adapter}${d.software ? ', software' : ''}`);
  if (d.onnxProviders?.length) parts.push(`ONNX Runtime on ${d.onnxProviders.join(' + ')}`);
  if (d.trainingBackend) parts.push(`training on TF.js ${d.trainingBackend}`);
  parts.push(d.requested === d.provider ? 'requested' : `--device ${d.requested}: ${d.reason}`);
  return `${d.provider} (${parts.join('; ')})`;
}

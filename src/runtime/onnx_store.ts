/**
 * Exported ONNX graphs of backbones, cached next to the weights:
 * `<weights dir>/onnx/<fingerprint>.x<EXPORTER_VERSION>.onnx` (default weights dir
 * `<FTK_HOME>/weights`). The backbone fingerprint covers everything that changes the graph
 * (architecture, alpha, weights sha256, layer, pooling, input size); the exporter version covers
 * the exporter itself. With the file present, extraction on ONNX Runtime never builds the TF.js
 * model (seconds saved for the large backbones). Written to a temporary name and renamed, so
 * concurrent shards and killed runs never leave half a file under the final name.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import type { BackboneInfo } from '../formats/features.js';
import { EXPORTER_VERSION, exportOnnx, type OnnxExport } from './onnx_export.js';
import { weightsDir } from './paths.js';

/** Where the exported graph of a backbone lives (the path only; nothing is created). */
export function onnxGraphPath(fingerprint: string, dir: string = weightsDir()): string {
  return path.join(dir, 'onnx', `${fingerprint}.x${EXPORTER_VERSION}.onnx`);
}

/** The cached graph file, if it exists. */
export async function findOnnxGraph(fingerprint: string, dir?: string): Promise<string | undefined> {
  const file = onnxGraphPath(fingerprint, dir);
  try {
    const s = await fsp.stat(file);
    return s.isFile() && s.size > 0 ? file : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Exports `model` (the backbone described by `info`) and stores the graph; returns the file and
 * the export. Throws `OnnxExportError` when a layer has no ONNX translation (nothing written).
 */
export async function storeOnnxGraph(model: tf.LayersModel, info: BackboneInfo, dir?: string): Promise<{ file: string; exported: OnnxExport }> {
  const exported = exportOnnx(model, {
    metadata: { 'ftk.fingerprint': info.fingerprint, 'ftk.backbone': JSON.stringify(info), 'ftk.exporter': String(EXPORTER_VERSION) },
  });
  const file = onnxGraphPath(info.fingerprint, dir);
  await fsp.mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}-${Date.now()}`;
  await fsp.writeFile(tmp, exported.bytes);
  await fsp.rename(tmp, file);
  return { file, exported };
}

/** Removes a cached graph (e.g. one ONNX Runtime could not load). */
export async function removeOnnxGraph(fingerprint: string, dir?: string): Promise<void> {
  await fsp.rm(onnxGraphPath(fingerprint, dir), { force: true });
}

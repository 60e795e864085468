/**
 * The domain probe of `ftk auto`'s prior: how much better late (bottleneck) features separate the
 * classes than early ones, by a linear SVM on a stratified subsample. A small gain says the
 * pretrained top knows little of this domain (src/auto/recommend.ts).
 */
import path from 'node:path';
import { svmCrossValidate } from '../classify/commands.js';
import type { Dataset } from '../data/dataset.js';
import { extractFeatures } from '../extract/extract.js';
import { writeFeatures } from '../extract/features_file.js';
import type { BackboneInfo, FeaturesMeta } from '../formats/features.js';
import { isExternalModel } from '../models/backbone.js';
import { describeOnnxModel } from '../models/onnx_backbone.js';
import type { CustomPreprocessOptions } from '../models/preprocess.js';
import { getModelSpec } from '../models/registry.js';
import { describeTfjsModel } from '../models/tfjs_backbone.js';
import type { DeviceChoice } from '../runtime/device.js';
import type { BackendName } from '../runtime/backend.js';
import { stratifiedSubsample } from './curves.js';
import { datasetSubset, takeRows } from './folds.js';
import type { DomainProbe } from './recommend.js';

/** Images of the domain probe (a stratified subsample). */
const PROBE_IMAGES = 400;

/** For `onnx:`/`tfjs:` backbones: the 4-D tensor at about 40% of the graph's 4-D tensors. */
async function earlyExternalTensor(info: BackboneInfo): Promise<string | undefined> {
  const listing = info.external?.format === 'onnx' ? await describeOnnxModel(info.weights, { inputSize: info.inputSize }) : await describeTfjsModel(info.weights, { inputSize: info.inputSize });
  const maps = listing.tensors.filter((t) => t.shape.length === 4 && t.shape[1] > 1 && t.shape[2] > 1);
  return maps[Math.floor(maps.length * 0.4)]?.name;
}

/** The layer at about 40% of the network's depth: "early" features for the domain probe. */
function earlyLayerName(model: string, alpha: number | undefined): string {
  const spec = getModelSpec(model);
  const size = Math.max(spec.minInputSize, 96);
  const m = spec.build({ includeTop: false, alpha, inputShape: [size, size, 3] });
  const candidates = m.layers.filter((l) => {
    const shape = l.outputShape as number[];
    return shape.length === 4 && /relu|activation|add|out|pool|mixed/i.test(l.name) && !/pad/.test(l.name);
  });
  const name = candidates[Math.floor(candidates.length * 0.4)]?.name ?? m.layers[Math.floor(m.layers.length * 0.4)].name;
  m.dispose();
  return name;
}

export interface ProbeInput {
  dataset: Dataset;
  X: Float32Array;
  meta: FeaturesMeta;
  n: number;
  d: number;
  labels: readonly number[];
  smallest: number;
  runDir: string;
  o: { model: string; alpha?: number; weights?: string; inputSize?: number; layer?: string; preprocess?: string | CustomPreprocessOptions; seed: number; backend?: BackendName | 'auto'; cache?: boolean | string };
  device: DeviceChoice;
  say: (m: string) => void;
}

/** Early vs late features on up to PROBE_IMAGES images; undefined when a class has fewer than 3 there. */
export async function domainProbe(p: ProbeInput): Promise<DomainProbe | undefined> {
  const { dataset, X, meta, n, d, labels, o } = p;
  const probeRows = stratifiedSubsample(Int32Array.from({ length: n }, (_, i) => i), labels, Math.min(1, PROBE_IMAGES / n), o.seed);
  if (Math.min(...dataset.classes.map((_, c) => Array.from(probeRows).filter((r) => labels[r] === c).length)) < 3) return undefined;
  p.say('Domain probe: linear separability of early vs late features');
  const model = meta.model.external ? o.model.split(',')[0] : meta.model.name;
  const early = isExternalModel(model) ? await earlyExternalTensor(meta.model) : earlyLayerName(meta.model.name, meta.model.alpha);
  if (early === undefined) return undefined;
  const probeSet = datasetSubset(dataset, probeRows, meta.files);
  const backbone = { model, alpha: meta.model.alpha, weights: o.weights, inputSize: meta.model.inputSize, crop: meta.model.crop, preprocess: o.preprocess };
  const earlyFeat = await extractFeatures(probeSet, { ...backbone, layer: early, backend: o.backend, device: p.device, cache: o.cache });
  const lateMeta = { ...meta, files: Array.from(probeRows, (r) => meta.files[r]), labels: Array.from(probeRows, (r) => labels[r]) };
  const probeDir = path.join(p.runDir, 'probe');
  const lateX = takeRows(X, d, probeRows).data;
  await writeFeatures(path.join(probeDir, 'late'), lateX, { ...lateMeta, shape: [probeRows.length, d], hashes: Array.from(probeRows, (r) => meta.hashes[r]), duplicates: [] });
  await writeFeatures(path.join(probeDir, 'early'), earlyFeat.features, earlyFeat.meta);
  const kp = Math.min(3, p.smallest);
  const lin = { kernel: 'linear' as const, C: 0.01, folds: kp, seed: o.seed };
  const [e, l] = [await svmCrossValidate(path.join(probeDir, 'early'), lin), await svmCrossValidate(path.join(probeDir, 'late'), lin)];
  return { earlyAccuracy: e.meanAccuracy, lateAccuracy: l.meanAccuracy, earlyLayer: early, lateLayer: meta.model.layer, images: probeRows.length };
}

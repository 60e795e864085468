/**
 * The prior of auto mode: which path the practice recommends for this dataset, with its reasons,
 * before any evidence. Evidence (cross-validated, paired) then confirms or overrules it.
 *
 * The practice (Keras blog "very little data", CS231n transfer-learning notes):
 * - small data (under about 1,000 images) close to ImageNet: bottleneck features + a linear
 *   classifier/SVM; fine-tuning would overfit;
 * - larger data close to ImageNet: fine-tune the top of the network;
 * - data far from ImageNet (medical scans, handwriting, spectrograms): features from late layers are
 *   too specific; with little data use earlier layers, with a lot fine-tune more of the network or
 *   train from scratch.
 * Published results disagree on where the crossover is (on 2,000 cats/dogs photos fine-tuning
 * already won, 94% vs 90%), which is why the prior is only a prior.
 */

export type Path = 'svm' | 'finetune' | 'scratch';

export interface DomainProbe {
  /** Cross-validated accuracy of a linear classifier on features of an early layer. */
  earlyAccuracy: number;
  /** The same on the bottleneck (last layer before the top). */
  lateAccuracy: number;
  earlyLayer: string;
  lateLayer: string;
  /** Images the probe used. */
  images: number;
}

export interface Prior {
  path: Path;
  reasons: string[];
  /** 'near' when late ImageNet features separate the classes clearly better than early ones. */
  domain: 'near' | 'far' | 'unknown';
}

export interface PriorInput {
  /** Images per class. */
  counts: number[];
  probe?: DomainProbe;
  /** The backbone can be fine-tuned (false for ONNX/graph backbones, or when the user asked for the SVM only). */
  canTrain: boolean;
  /** Why it cannot, for the reasons. Default: ONNX Runtime for Node has no training API. */
  cannotTrainReason?: string;
}

/** Total images below which the practice says "bottleneck features + SVM". */
export const SMALL_DATA_IMAGES = 1000;
/** Late-minus-early accuracy gain (points) above which the domain counts as close to ImageNet. */
export const NEAR_DOMAIN_GAIN = 0.05;

export function recommend(input: PriorInput): Prior {
  const total = input.counts.reduce((a, b) => a + b, 0);
  const perClass = Math.min(...input.counts);
  const reasons: string[] = [];
  let domain: Prior['domain'] = 'unknown';
  if (input.probe) {
    const gain = input.probe.lateAccuracy - input.probe.earlyAccuracy;
    domain = gain >= NEAR_DOMAIN_GAIN ? 'near' : 'far';
    reasons.push(
      `Domain probe on ${input.probe.images} images: a linear classifier reaches ${(100 * input.probe.lateAccuracy).toFixed(1)}% on ` +
        `${input.probe.lateLayer} features vs ${(100 * input.probe.earlyAccuracy).toFixed(1)}% on ${input.probe.earlyLayer}: ` +
        (domain === 'near'
          ? `late ImageNet features help (+${(100 * gain).toFixed(1)} points), the data looks close to ImageNet.`
          : `late ImageNet features add little (${gain >= 0 ? '+' : ''}${(100 * gain).toFixed(1)} points), the data looks far from ImageNet.`),
    );
  }
  const size = `${total} images, ${perClass} in the smallest class`;
  let path: Path;
  if (!input.canTrain) {
    path = 'svm';
    reasons.push(`${size}; ${input.cannotTrainReason ?? 'this backbone cannot be trained here (ONNX Runtime for Node has no training API)'}, so only the SVM path is possible.`);
  } else if (total < SMALL_DATA_IMAGES) {
    path = 'svm';
    reasons.push(`${size}: under about ${SMALL_DATA_IMAGES} images the practice is bottleneck features + SVM (fine-tuning tends to overfit).`);
    if (domain === 'far') reasons.push('Far from ImageNet with little data: features from earlier layers may serve better than the bottleneck (see --layer).');
  } else if (domain === 'far' && perClass >= 1000) {
    path = 'scratch';
    reasons.push(`${size}, far from ImageNet: with this much data, training more of the network (or from scratch) is the practice.`);
  } else {
    path = 'finetune';
    reasons.push(`${size}: over about ${SMALL_DATA_IMAGES} images the practice is to fine-tune the top layers with a 10x smaller learning rate.`);
  }
  return { path, reasons, domain };
}

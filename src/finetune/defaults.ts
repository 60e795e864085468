/**
 * Fine-tuning's defaults and the `--freeze` parser, in a module that loads nothing else: the CLI
 * prints them in its help without loading TF.js (src/finetune/options.ts resolves them).
 */

/** How many layers of the base stay frozen: a block count, a fraction, 'all', 'none' or a layer name. */
export type FreezeSpec = string | number;

/** Defaults, in one place. */
export const FINETUNE_DEFAULTS = Object.freeze({
  model: 'mobilenet_v2',
  weights: 'imagenet',
  crop: 'squash' as const,
  lr: 1e-3,
  /** Phase 2 learning rate = lr / PHASE2_LR_DIVISOR. */
  phase2LrDivisor: 10,
  epochs: 10,
  headEpochs: 10,
  batchSize: 32,
  augment: 'flip,rotate=0.05,translate=0.1,zoom=0.1',
  views: 4,
  viewsRefresh: 0,
  val: 0.2,
  seed: 0,
  patience: 3,
  dropout: 0.2,
  pooling: 'avg' as const,
  backend: 'auto' as const,
  device: 'auto' as const,
  runtime: 'auto' as const,
  prefixCache: true,
  memoryBudgetMB: 512,
  workers: 'auto' as number | 'auto',
});

/** Default `--freeze` per architecture: the last two blocks (and the head) train in phase 2. */
export const DEFAULT_FREEZE: Readonly<Record<string, FreezeSpec>> = Object.freeze({
  mobilenet: 11,
  mobilenet_v2: 14,
  resnet50: 14,
  vgg16: 3,
  vgg19: 3,
  inception_v3: 9,
  smallcnn: 'none',
});

/** Default `--freeze` of `tfjs:` layers models, whose blocks ftk does not know: the first 80% of the layers. */
export const DEFAULT_FREEZE_EXTERNAL: FreezeSpec = 0.8;

/**
 * Reads a `--freeze` value: an integer is a block count, a number in (0, 1) a fraction, 'all' /
 * 'none' what they say, anything else a layer name.
 */
export function parseFreezeSpec(value: string): FreezeSpec {
  const v = value.trim();
  // Anything numeric is a count or a fraction (no Keras layer name is a number).
  if (/^[\d.]+(e[+-]?\d+)?$/i.test(v) && Number.isFinite(Number(v))) return Number(v);
  return v;
}

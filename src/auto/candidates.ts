/**
 * The candidate space of `ftk auto`: what each path may try, cheapest first.
 *
 * Feature path (backbone features + classifier), per backbone the user gave:
 *   input size   the model's, and about 1.3x (rounded to 32 px): larger inputs see more detail
 *                and the pooled features stay the same size;
 *   crop         'squash' (Keras' default resize) and 'center' (keeps proportions);
 *   TTA          'none' and 'flip' (the mean of the image's and its mirror's features);
 *   classifier   RBF SVM (C, gamma by grid) on standardized features, and on power-normalized
 *                ones (sign(x) sqrt(|x|), then standardized: pooled activations are dominated by
 *                a few large values, and evening them out often helps a kernel); 'thorough'
 *                also a linear model.
 * Fine-tuning path:
 *   how much to unfreeze (the architecture's default: the last two blocks; and the last four),
 *   crop, augmented views, dropout.
 *
 * Levels: 'quick' is one candidate per path (the doctor's crop), 'standard' the grid above with
 * the fine-tuning variants the budget allows, 'thorough' adds sizes, views and dropout. A knob the
 * user set (`--crop`, `--input-size`, `--freeze`, `--views`, `--dropout`) is fixed, not searched.
 * Every candidate is scored inside the training folds only (src/auto/feature_path.ts,
 * src/auto/finetune_path.ts); the budget prunes the expensive ones first.
 */
import { DEFAULT_FREEZE, DEFAULT_FREEZE_EXTERNAL, FINETUNE_DEFAULTS, type FreezeSpec } from '../finetune/defaults.js';
import { OptionsError } from '../errors.js';

export type CandidateLevel = 'quick' | 'standard' | 'thorough';
export const CANDIDATE_LEVELS: readonly CandidateLevel[] = Object.freeze(['quick', 'standard', 'thorough'] as const);

export type Crop = 'squash' | 'center';
export type Tta = 'none' | 'flip';

/** One backbone the feature path may stand on (`--model a,b`). */
export interface BackboneChoice {
  model: string;
  alpha?: number;
  weights?: string;
  layer?: string;
  preprocess?: unknown;
  /** The model's own input size (zoo default, or the user's --input-size for onnx:/tfjs:). */
  defaultSize: number;
  /** Smallest input the architecture takes. */
  minSize: number;
  /** False for onnx:/tfjs: graph models (inference only). */
  trainable: boolean;
}

export interface FeatureCandidate {
  kind: 'features';
  id: string;
  label: string;
  backbone: number;
  inputSize: number;
  crop: Crop;
  tta: Tta;
  classifier: 'rbf' | 'linear';
  /** The classifier's feature scaling (the SVM model stores and applies it). */
  scaler: FeatureScaler;
}

/** Feature scalings the feature path tries (src/classify/scaler.ts). */
export type FeatureScaler = 'standardize' | 'sqrt-standardize';

export interface FinetuneCandidate {
  kind: 'finetune';
  id: string;
  label: string;
  inputSize: number;
  crop: Crop;
  freeze: FreezeSpec;
  views: number;
  dropout: number;
}

export interface CandidateSpace {
  features: FeatureCandidate[];
  finetune: FinetuneCandidate[];
}

export interface SpaceInput {
  level: CandidateLevel;
  backbones: readonly BackboneChoice[];
  /** Share of images far from square (the doctor's `sizes.nonSquare`): above 0.5 'center' goes first. */
  nonSquare?: number;
  /**
   * False when the feature path's classifier will be linear anyway (training folds above the exact
   * kernel's rows): linear candidates only (no RBF, no power normalization). Default true.
   */
  kernelSvm?: boolean;
  /** Knobs the user fixed. */
  fixed?: { inputSize?: number; crop?: Crop; tta?: Tta; freeze?: FreezeSpec; views?: number; dropout?: number };
}

/** About 1.3x the model's size, rounded to a multiple of 32 (the strides of every zoo model). */
export function largerSize(size: number): number {
  return Math.round((size * 1.3) / 32) * 32;
}

function featureLabel(b: BackboneChoice, c: Omit<FeatureCandidate, 'id' | 'label' | 'kind'>): string {
  const name = `${b.model}${b.alpha !== undefined ? ` ${b.alpha}` : ''}`;
  return `${c.classifier === 'rbf' ? 'RBF SVM' : 'logistic regression'} on ${c.scaler === 'sqrt-standardize' ? 'power-normalized ' : ''}${name} features, ${c.inputSize} px ${c.crop}${c.tta === 'flip' ? ', flip TTA' : ''}`;
}

/** Blocks to keep frozen for "unfreeze the last four blocks" (two more than the default). */
function deeperFreeze(model: string, trainable: boolean): FreezeSpec | undefined {
  if (!trainable) return undefined;
  const d = DEFAULT_FREEZE[model];
  if (typeof d === 'number' && d >= 3) return d - 2;
  if (d === undefined && DEFAULT_FREEZE_EXTERNAL === 0.8) return 0.6;
  return undefined;
}

/**
 * The candidates of both paths, cheapest first within each path (the first is the path's default
 * and is never pruned).
 */
export function candidateSpace(input: SpaceInput): CandidateSpace {
  if (!CANDIDATE_LEVELS.includes(input.level)) {
    throw new OptionsError(`candidates must be one of ${CANDIDATE_LEVELS.map((l) => `'${l}'`).join(', ')}. Received ${JSON.stringify(input.level)}.`, {
      suggestion: "Use --candidates standard (the default), quick (one per path) or thorough.",
    });
  }
  if (input.backbones.length === 0) throw new OptionsError('auto needs at least one backbone (--model).');
  const fixed = input.fixed ?? {};
  const level = input.level;
  const centerFirst = (input.nonSquare ?? 0) > 0.5;
  const crops: Crop[] = fixed.crop ? [fixed.crop] : level === 'quick' ? [centerFirst ? 'center' : 'squash'] : centerFirst ? ['center', 'squash'] : ['squash', 'center'];
  const ttas: Tta[] = fixed.tta ? [fixed.tta] : level === 'quick' ? ['flip'] : ['flip', 'none'];

  const features: FeatureCandidate[] = [];
  input.backbones.forEach((b, bi) => {
    const base = fixed.inputSize ?? b.defaultSize;
    const sizes = fixed.inputSize ? [base] : level === 'quick' ? [base] : level === 'standard' ? [base, largerSize(base)] : [base, largerSize(base), largerSize(largerSize(base))];
    // (classifier, scaler): the linear model folds its scaling into its solver, so it standardizes.
    // Above the exact kernel's rows the feature path is a linear model whatever the level.
    const classifiers: ['rbf' | 'linear', FeatureScaler][] =
      input.kernelSvm === false
        ? [['linear', 'standardize']]
        : level === 'quick'
          ? [['rbf', 'standardize']]
          : [['rbf', 'standardize'], ['rbf', 'sqrt-standardize'], ...(level === 'thorough' ? [['linear', 'standardize'] as ['linear', FeatureScaler]] : [])];
    for (const inputSize of [...new Set(sizes.filter((s) => s >= b.minSize))]) {
      for (const crop of crops) {
        for (const tta of ttas) {
          for (const [classifier, scaler] of classifiers) {
            const c = { backbone: bi, inputSize, crop, tta, classifier, scaler };
            const tag = `${b.model}${b.alpha !== undefined ? `-${b.alpha}` : ''}`;
            features.push({ kind: 'features', id: `svm:${tag}@${inputSize}/${crop}/${tta}/${classifier}${scaler === 'sqrt-standardize' ? '-sqrt' : ''}`, label: featureLabel(b, c), ...c });
          }
        }
      }
    }
  });

  // Fine-tuning starts from the first trainable backbone (weights it can train).
  const finetune: FinetuneCandidate[] = [];
  const trainable = input.backbones.find((b) => b.trainable);
  if (trainable) {
    const inputSize = fixed.inputSize ?? trainable.defaultSize;
    const defaultFreeze = DEFAULT_FREEZE[trainable.model] ?? DEFAULT_FREEZE_EXTERNAL;
    const freezes: FreezeSpec[] = fixed.freeze !== undefined ? [fixed.freeze] : level === 'quick' ? [defaultFreeze] : [defaultFreeze, deeperFreeze(trainable.model, true)].filter((f): f is FreezeSpec => f !== undefined);
    const ftCrops = level === 'thorough' ? crops : crops.slice(0, 1);
    const views = fixed.views !== undefined ? [fixed.views] : level === 'thorough' ? [FINETUNE_DEFAULTS.views, 8] : [FINETUNE_DEFAULTS.views];
    const dropouts = fixed.dropout !== undefined ? [fixed.dropout] : level === 'thorough' ? [FINETUNE_DEFAULTS.dropout, 0.5] : [FINETUNE_DEFAULTS.dropout];
    for (const freeze of freezes) {
      for (const crop of ftCrops) {
        for (const v of views) {
          for (const dropout of dropouts) {
            const unfreeze = freeze === defaultFreeze ? 'top 2 blocks' : freeze === deeperFreeze(trainable.model, true) ? 'top 4 blocks' : `freeze ${freeze}`;
            finetune.push({
              kind: 'finetune',
              id: `finetune:${inputSize}/${crop}/freeze=${freeze}/views=${v}/dropout=${dropout}`,
              label: `fine-tuned ${trainable.model}${trainable.alpha !== undefined ? ` ${trainable.alpha}` : ''}, ${unfreeze}, ${inputSize} px ${crop}, ${v} views, dropout ${dropout}`,
              inputSize,
              crop,
              freeze,
              views: v,
              dropout,
            });
          }
        }
      }
    }
  }
  return { features, finetune };
}

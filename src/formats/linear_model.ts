/**
 * ftk's saved linear classifier (`LinearSVC`, `LogisticRegression`): one JSON file with the
 * weights in the scaled space, the intercepts and the scaler. A sibling of the SVM model format
 * (same scaler, labels, backbone and grid-search fields). See src/formats/README.md, section
 * "Linear model".
 */
import type { BackboneInfo } from './features.js';
import { SvmModelError, type SvmScalerJson } from './svm_model.js';

export const LINEAR_MODEL_FORMAT = 'ftk-linear-model';
export const LINEAR_MODEL_FORMAT_VERSION = 1;

export type LinearModelKind = 'linear-svc' | 'logistic';

export interface LinearModelJson {
  format: typeof LINEAR_MODEL_FORMAT;
  formatVersion: number;
  /** 'linear-svc' (one-vs-rest, decision values) or 'logistic' (multinomial, probabilities). */
  model: LinearModelKind;
  C: number;
  /** Class labels, ascending. */
  classes: number[];
  classNames?: string[];
  /** Input dimension D. */
  nFeatures: number;
  /** Applied to inputs before the weights. */
  scaler: SvmScalerJson;
  /**
   * Weight rows in the scaled space: one per class (one row for a two-class LinearSVC, for
   * classes[1], as scikit-learn's `coef_`).
   */
  coef: number[][];
  /** One intercept per weight row. */
  intercept: number[];
  /** Resolved weight per class, or null. */
  classWeight: number[] | null;
  params: Record<string, unknown>;
  training: { nSamples: number; createdAt: string; trainer: string; iterations: number; converged: boolean };
  backbone?: BackboneInfo;
  gridSearch?: { bestC: number; bestGamma: null; bestScore: number; folds: number; seed: number | null };
}

/** Checks the structure of a parsed linear model; `source` names it in errors. */
export function validateLinearModelJson(obj: unknown, source = 'model.json'): LinearModelJson {
  const fail = (what: string): never => {
    throw new SvmModelError(`${source} is not a valid ftk linear model: ${what}.`, {
      code: 'SVM_MODEL_INVALID',
      suggestion: 'Pass a model written by `ftk svm fit --solver liblinear|logistic --out` (format ftk-linear-model); if it was edited by hand, fit it again.',
    });
  };
  if (obj === null || typeof obj !== 'object') return fail('not a JSON object');
  const m = obj as Partial<LinearModelJson>;
  if (m.format !== LINEAR_MODEL_FORMAT) return fail(`format is ${JSON.stringify(m.format)}, expected "${LINEAR_MODEL_FORMAT}"`);
  if (typeof m.formatVersion === 'number' && m.formatVersion > LINEAR_MODEL_FORMAT_VERSION) {
    throw new SvmModelError(`${source} was written by a newer ftk: linear model format version ${m.formatVersion}, this ftk reads version ${LINEAR_MODEL_FORMAT_VERSION}.`, {
      code: 'SVM_MODEL_VERSION',
      suggestion: 'Upgrade ftk, or fit the model again with this version.',
    });
  }
  if (m.formatVersion !== LINEAR_MODEL_FORMAT_VERSION) return fail(`formatVersion ${String(m.formatVersion)} is not supported`);
  if (m.model !== 'linear-svc' && m.model !== 'logistic') return fail(`unknown model ${JSON.stringify(m.model)}`);
  const isNumArray = (a: unknown): a is number[] => Array.isArray(a) && a.every((x) => typeof x === 'number' && Number.isFinite(x));
  if (!isNumArray(m.classes) || m.classes.length < 2) return fail('classes must list at least 2 labels');
  const k = m.classes.length;
  if (typeof m.nFeatures !== 'number' || !Number.isInteger(m.nFeatures) || m.nFeatures < 1) return fail('nFeatures missing');
  const rows = m.model === 'linear-svc' && k === 2 ? 1 : k;
  if (!Array.isArray(m.coef) || m.coef.length !== rows || !m.coef.every((r) => isNumArray(r) && r.length === m.nFeatures)) {
    return fail(`coef must be ${rows} rows of ${m.nFeatures} finite numbers`);
  }
  if (!isNumArray(m.intercept) || m.intercept.length !== rows) return fail(`intercept must have ${rows} entries`);
  const s = m.scaler;
  if (!s || !['none', 'l2', 'standardize'].includes(s.kind)) return fail('unknown scaler');
  if (s.kind === 'standardize' && (!isNumArray(s.mean) || !isNumArray(s.scale) || s.mean.length !== m.nFeatures || s.scale.length !== m.nFeatures || s.scale.some((v) => v <= 0))) {
    return fail(`standardize scaler needs mean and positive scale of ${m.nFeatures} numbers`);
  }
  if (m.classNames !== undefined && (!Array.isArray(m.classNames) || m.classNames.length !== k)) return fail(`classNames must have ${k} entries`);
  return m as LinearModelJson;
}

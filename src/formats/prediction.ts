/**
 * The one prediction schema: what every command that predicts prints with `--json` (`ftk predict`,
 * `ftk svm predict`) and what the library's predictions hold. A label is always the class name;
 * its index in `classes` is `labelIndex`.
 *
 *   {
 *     "classes": ["cats", "dogs"],
 *     "predictions": [
 *       { "file": "photos/1.jpg", "label": "cats", "labelIndex": 0, "probabilities": { "cats": 0.97, "dogs": 0.03 } }
 *     ],
 *     "failed": [{ "file": "photos/broken.jpg", "error": "..." }],
 *     "accuracy": 0.95
 *   }
 *
 * With a model that carries an unknown detector (src/trust), `ftk predict` adds `unknown`,
 * `unknownScore` and `unknownThreshold`; an unknown input has `label: null` and `labelIndex: null`.
 * `row` (a features file's row) replaces or accompanies `file` when predicting from features;
 * `probabilities` is absent for models without a probability model (`ftk svm fit` without
 * `--probability`); `accuracy` appears only when the inputs carry labels of the model's classes.
 */

export interface Prediction {
  /** The image, as given or found (absent for feature rows whose files are unknown). */
  file?: string;
  /** Row of the features file (predictions from features only). */
  row?: number;
  /** The predicted class's name; null when the input is unknown (unlike every class the model was trained on). */
  label: string | null;
  /** Index of `label` in the model's `classes`; null when unknown. */
  labelIndex: number | null;
  /** True when the input's unknown score is above the model's threshold (models that carry an unknown detector; `ftk predict`). */
  unknown?: boolean;
  /** The unknown score (larger = less like the training images) and the model's threshold for it, with a detector. */
  unknownScore?: number;
  unknownThreshold?: number;
  /** Probability of every class, by name (models with a probability model). */
  probabilities?: Record<string, number>;
}

export interface FailedPrediction {
  file: string;
  error: string;
}

/** The `--json` document of every command that predicts. */
export interface PredictionsDocument<P extends Prediction = Prediction> {
  classes: string[];
  predictions: P[];
  failed: FailedPrediction[];
  /** Accuracy against the inputs' own labels, when they have labels of the model's classes. */
  accuracy?: number;
}

/** `{ className: p }` of a probability vector in `classes` order. */
export function probabilitiesByName(classes: readonly string[], p: ArrayLike<number>): Record<string, number> {
  const out: Record<string, number> = {};
  classes.forEach((c, k) => (out[c] = p[k]));
  return out;
}

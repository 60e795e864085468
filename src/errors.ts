/**
 * ftk's error hierarchy. Every error says what was expected, what was received and how to fix
 * it; the CLI prints `message` and `suggestion` and exits 1.
 */
export interface FtkErrorOptions {
  /** A short stable identifier, e.g. 'DATASET_EMPTY_CLASS'. */
  code?: string;
  /** What the user can do about it. */
  suggestion?: string;
  cause?: unknown;
}

export class FtkError extends Error {
  readonly code: string;
  readonly suggestion?: string;

  constructor(message: string, options: FtkErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = options.code ?? 'FTK_ERROR';
    this.suggestion = options.suggestion;
  }
}

/** Bad or unusable dataset: missing folder, empty class, too few images for a split. */
export class DatasetError extends FtkError {}
/** A weight file that is missing, corrupt, of another architecture or fails its checksum. */
export class WeightsError extends FtkError {}
/** Invalid options or option combinations. */
export class OptionsError extends FtkError {}
/** A feature file (.npy/.json) that is missing, inconsistent or malformed. */
export class FeaturesError extends FtkError {}
/** A runtime/backend that cannot be used. */
export class RuntimeError extends FtkError {}
/** Using an estimator before `fit`. */
export class NotFittedError extends FtkError {}
/** A classifier that cannot be exported (missing or changed backbone, unsupported layer, bad model). */
export class ExportError extends FtkError {}

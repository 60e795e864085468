/** Public API of the SVM stage (re-exported from src/index.ts). */
export { SvmClassifier, type DecisionOptions, type FitCallbacks } from './svm.js';
export {
  crossValidate,
  gridSearch,
  type CrossValidationResult,
  type GridPoint,
  type GridSearchResult,
  type SearchCallbacks,
  type SearchProgress,
} from './search.js';
export {
  saveSvmModel,
  svmCrossValidate,
  svmFit,
  svmPredict,
  svmPredictImages,
  type CommandCallbacks,
  type ImageFeatureExtractor,
  type SvmCvOptions,
  type SvmCvResult,
  type SvmFitOptions,
  type SvmFitResult,
  type SvmPrediction,
  type SvmPredictResult,
} from './commands.js';
export {
  CV_DEFAULTS,
  GRID_LOG2C_DEFAULT,
  GRID_LOG2GAMMA_DEFAULT,
  SVM_DEFAULTS,
  type ClassWeight,
  type CvOptions,
  type GridOptions,
  type SvmOptions,
} from './options.js';
export { loadFeatures, type LoadedFeatures, type LoadFeaturesOptions } from './features_io.js';
export { GramEngine } from './gram.js';
export type { FeatureMatrix, MatrixLike } from './matrix.js';
export type { ScalerKind } from './scaler.js';
export type { KernelName } from './kernel.js';

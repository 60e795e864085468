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
  svmNestedCrossValidate,
  loadSvmOrLinearModel,
  hasProbabilities,
  type SolverChoice,
  type SvmNestedCvOptions,
  type SvmNestedCvResult,
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
export {
  LinearSVC,
  LogisticRegression,
  linearFromJSON,
  loadLinearModel,
  type LinearClassifier,
  type LinearFitCallbacks,
} from './linear.js';
export {
  LINEAR_SVC_DEFAULTS,
  LOGISTIC_DEFAULTS,
  SOLVERS,
  SOLVER_DEFAULT,
  type LinearOptions,
  type LinearSvcLoss,
  type LinearSvcOptions,
  type LogisticOptions,
  type SolverName,
} from './linear_options.js';
export { linearCrossValidate, linearGridSearch, type LinearCvResult, type LinearGridOptions, type LinearKind } from './linear_search.js';
export { nestedCrossValidate, NESTED_INNER_FOLDS_DEFAULT, type NestedCvOptions, type NestedCvResult, type NestedFold } from './nested.js';
export { maxPrecomputedSamples } from './libsvm.js';

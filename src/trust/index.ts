/** Public API of the trust room (re-exported from src/index.ts): calibration, unknown detection, what to label next. */
export { calibrate, applyCalibration, reliability, expectedCalibrationError, fitTemperature, CALIBRATE_DEFAULTS, ECE_BINS, type CalibrateOptions } from './calibrate.js';
export { UnknownDetector, unknownScore, auroc, quantile, l2Normalize, UNKNOWN_DEFAULTS, type UnknownDetectorOptions, type UnknownMethod } from './ood.js';
export { suggestLabels, SUGGEST_DEFAULTS, type SuggestOptions, type SuggestResult, type SuggestedImage } from './suggest.js';
export { fitSvmTrust, svmOutOfFoldProbabilities, TRUST_DEFAULTS, type SvmTrustOptions, type SvmTrustResult } from './fit.js';
export type { CalibrationJson, ReliabilityJson, UnknownDetectorJson } from '../formats/trust.js';

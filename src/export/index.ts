/** Deploying classifiers: one ONNX file, a static web page, a complete TF.js folder. */
export { buildClassifierOnnx, exportClassifier, writeFileAtomic, EXPORT_METADATA_KEYS, ONNX_CLASSIFIER_FORMAT, OUTPUT_LABEL, OUTPUT_PROBABILITIES, OUTPUT_UNKNOWN_SCORE, type ClassifierExport, type ExportOptions, type ExportResult, type TrainingSummary } from './export.js';
export { CLASSIFIER_OPSET } from './graph.js';
export { PIXELS_INPUT } from './image_input.js';
export { exportWebPage, ORT_WEB_FILES, WEB_MODEL_FILE, type WebExportOptions, type WebExportResult } from './web.js';
export { exportTfjs, type TfjsExportMetadata, type TfjsExportResult } from './tfjs.js';
export { serveStatic, type ServeOptions, type StaticServer } from './serve.js';

/** Reports of `ftk auto` runs: the run record -> report.html (self-contained), report.md, report.json. */
export { renderReport, readRunReport, writeReport, runRecordPath, REPORT_FILES, RUN_RECORD_FILE, REPORT_JSON_FORMAT, type ReportOptions, type RenderedReport, type ReportJson, type WriteReportOptions, type WriteReportResult } from './report.js';
export { renderHtml, REPORT_CSP, type HtmlInputs } from './html.js';
export { renderMarkdown, type MarkdownInputs } from './markdown.js';
export { deriveReport, type DerivedReport, type ConfidentlyWrong, type WrongPrediction, type StageThroughput, type CandidateSummary } from './derive.js';
export { pathResultFromCv, pathResultFromPredictions, gridFromSearch, pairedComparison, differenceInterval95, estimateCrossover, foldMacroF1, type PredictionsInfo } from './build.js';
export { makeThumbnail, makeThumbnails, type Thumbnail, type ThumbnailOptions } from './thumbnails.js';
export * from '../formats/run_report.js';

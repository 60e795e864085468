/**
 * `ftk report`: reads a run record (`<run dir>/run.json`, src/formats/run_report.ts) and writes
 * `report.html` (self-contained), `report.md` and `report.json`. Library code: no printing;
 * problems that leave the report usable (a thumbnail that cannot be made) go to `onWarning`.
 */
import { readFile, rename, stat, writeFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { RunReportError, validateRunReport, type RunReport } from '../formats/run_report.js';
import { packageInfo } from '../runtime/package_info.js';
import { deriveReport, type DerivedReport } from './derive.js';
import { renderHtml } from './html.js';
import { renderMarkdown } from './markdown.js';
import { makeThumbnails, THUMBNAIL_SIZE_DEFAULT, type Thumbnail } from './thumbnails.js';

export const REPORT_JSON_FORMAT = 'ftk-report';
export const REPORT_JSON_FORMAT_VERSION = 1;
/** File names written into the output folder. */
export const REPORT_FILES = Object.freeze({ html: 'report.html', markdown: 'report.md', json: 'report.json' });
/** File name of the run record inside a run folder. */
export const RUN_RECORD_FILE = 'run.json';

export interface ReportOptions {
  /** Folder that image paths are resolved against for thumbnails. Default: the record's `dataset.root`. */
  imageRoot?: string;
  /** Most confidently wrong images shown (with thumbnails). Default 12. */
  maxThumbnails?: number;
  /** Longest side of a thumbnail in pixels. Default 96. */
  thumbnailSize?: number;
  /** Time stamp printed in the report. Default: now (ISO). */
  generatedAt?: string;
  /** Told about problems that leave the report usable (e.g. an image that is gone). */
  onWarning?: (message: string) => void;
}

/** `report.json`: the record as read, plus the numbers the report derived from it. */
export interface ReportJson {
  format: typeof REPORT_JSON_FORMAT;
  formatVersion: number;
  generatedAt: string;
  ftkVersion: string;
  run: RunReport;
  derived: DerivedReport;
}

export interface RenderedReport {
  html: string;
  markdown: string;
  json: ReportJson;
  warnings: string[];
}

const MAX_THUMBNAILS_DEFAULT = 12;

/** Renders a validated run record into the three report forms (thumbnails are made here). */
export async function renderReport(run: RunReport, options: ReportOptions = {}): Promise<RenderedReport> {
  const warnings: string[] = [];
  const warn = (m: string) => {
    warnings.push(m);
    options.onWarning?.(m);
  };
  const generatedAt = options.generatedAt ?? new Date().toISOString();
  const ftkVersion = packageInfo().version;
  const derived = deriveReport(run, { maxWrong: options.maxThumbnails ?? MAX_THUMBNAILS_DEFAULT });
  let thumbnails: Thumbnail[] = [];
  const items = derived.confidentlyWrong?.items ?? [];
  if (items.length) {
    const root = options.imageRoot ?? run.dataset.root;
    thumbnails = await makeThumbnails(root, items.map((i) => i.file), { size: options.thumbnailSize ?? THUMBNAIL_SIZE_DEFAULT });
    const failed = thumbnails.filter((t): t is { error: string } => 'error' in t);
    if (failed.length) {
      warn(`${failed.length} of ${items.length} thumbnails could not be made (first: ${failed[0].error}); the report lists those images without a picture. Pass the dataset's current folder as the image root if it moved.`);
    }
  }
  const html = renderHtml({ run, derived, thumbnails, generatedAt, ftkVersion });
  const markdown = renderMarkdown({ run, derived, generatedAt, ftkVersion });
  const json: ReportJson = { format: REPORT_JSON_FORMAT, formatVersion: REPORT_JSON_FORMAT_VERSION, generatedAt, ftkVersion, run, derived };
  return { html, markdown, json, warnings };
}

/** The run record file for `input`: `input` itself if it is a file, else `<input>/run.json`. */
export async function runRecordPath(input: string): Promise<string> {
  const st = await stat(input).catch(() => null);
  if (!st) {
    throw new RunReportError(`Run folder not found: ${input}.`, {
      code: 'RUN_REPORT_MISSING',
      suggestion: 'Pass the folder given to `ftk auto --out`, which holds run.json.',
    });
  }
  return st.isDirectory() ? path.join(input, RUN_RECORD_FILE) : input;
}

/** Reads and validates a run record (a run folder or the run.json file itself). */
export async function readRunReport(input: string): Promise<RunReport> {
  const file = await runRecordPath(input);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new RunReportError(`No run record at ${file}.`, {
      code: 'RUN_REPORT_MISSING',
      suggestion: 'Run `ftk auto <dataset> --out <dir>` first, then `ftk report <dir>`.',
      cause: e,
    });
  }
  let obj: unknown;
  try {
    obj = JSON.parse(text);
  } catch (e) {
    throw new RunReportError(`${file} is not valid JSON: ${(e as Error).message}.`, {
      code: 'RUN_REPORT_INVALID',
      suggestion: 'The file is truncated or was edited by hand: run `ftk auto` again.',
      cause: e,
    });
  }
  return validateRunReport(obj, file);
}

export interface WriteReportOptions extends ReportOptions {
  /** Output folder. Default: the run folder (the folder of run.json). */
  out?: string;
}

export interface WriteReportResult {
  /** Paths written. */
  html: string;
  markdown: string;
  json: string;
  run: RunReport;
  warnings: string[];
}

async function writeAtomic(file: string, data: string): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}`;
  await writeFile(tmp, data);
  await rename(tmp, file);
}

/** Reads `<run dir>/run.json` and writes report.html, report.md and report.json. */
export async function writeReport(runDir: string, options: WriteReportOptions = {}): Promise<WriteReportResult> {
  const { out, ...renderOptions } = options;
  const record = await runRecordPath(runDir);
  const run = await readRunReport(record);
  const rendered = await renderReport(run, renderOptions);
  const dir = out ?? path.dirname(record);
  await mkdir(dir, { recursive: true });
  const paths = {
    html: path.join(dir, REPORT_FILES.html),
    markdown: path.join(dir, REPORT_FILES.markdown),
    json: path.join(dir, REPORT_FILES.json),
  };
  await writeAtomic(paths.html, rendered.html);
  await writeAtomic(paths.markdown, rendered.markdown);
  await writeAtomic(paths.json, JSON.stringify(rendered.json, null, 1) + '\n');
  return { ...paths, run, warnings: rendered.warnings };
}

/**
 * `ftk export <model> --web <dir>`: a static, offline page that classifies images in the browser.
 *
 *   <dir>/index.html                    the page (classes, accuracy, input size; drop or pick images)
 *   <dir>/app.js                        decodes each image with the browser (createImageBitmap ->
 *                                       canvas -> RGB uint8 NHWC) and runs the ONNX file
 *   <dir>/classifier.onnx               the export (export.ts)
 *   <dir>/ort.wasm.min.js, ort-wasm-simd-threaded.{mjs,wasm}
 *                                       onnxruntime-web's WebAssembly build, copied from node_modules
 *   <dir>/ftk-web.json                  what was exported (and the marker that lets a later export
 *                                       replace the folder)
 *
 * No CDN, no network: serve the folder with any static server (`ftk serve <dir>`, or
 * `npx http-server <dir>`); browsers refuse WebAssembly from file:// pages. One WASM thread
 * (threads need cross-origin isolation headers that simple static servers do not send).
 */
import { existsSync, promises as fsp, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { ExportError } from '../errors.js';
import { packageInfo } from '../runtime/package_info.js';
import { buildClassifierOnnx, type ClassifierExport, type ExportOptions } from './export.js';
import { WEB_APP_JS, webIndexHtml } from './web_page.js';

/** onnxruntime-web files the page needs (its WebAssembly-only build). */
export const ORT_WEB_FILES = ['ort.wasm.min.js', 'ort-wasm-simd-threaded.mjs', 'ort-wasm-simd-threaded.wasm'] as const;
export const WEB_MARKER = 'ftk-web.json';
export const WEB_MODEL_FILE = 'classifier.onnx';

export interface WebExportResult {
  dir: string;
  files: { name: string; sizeBytes: number }[];
  ortWebVersion: string;
  export: Omit<ClassifierExport, 'bytes'>;
}

function ortWebDist(): { dir: string; version: string } {
  const require = createRequire(import.meta.url);
  let entry: string;
  try {
    entry = require.resolve('onnxruntime-web'); // its exports map hides package.json: walk up from the entry
  } catch (err) {
    throw new ExportError('onnxruntime-web is not installed, so the web page would have no runtime.', { code: 'EXPORT_NO_ORT_WEB', suggestion: 'Run `npm ci` (onnxruntime-web is a dependency of ftk).', cause: err });
  }
  for (let dir = path.dirname(entry); dir !== path.dirname(dir); dir = path.dirname(dir)) {
    const pkgFile = path.join(dir, 'package.json');
    if (!existsSync(pkgFile)) continue;
    const pkg = JSON.parse(readFileSync(pkgFile, 'utf8')) as { name?: string; version: string };
    if (pkg.name === 'onnxruntime-web') return { dir: path.join(dir, 'dist'), version: pkg.version };
  }
  throw new ExportError(`onnxruntime-web's package.json was not found above ${entry}.`, { code: 'EXPORT_NO_ORT_WEB', suggestion: 'Reinstall it with `npm ci`.' });
}

export interface WebExportOptions extends ExportOptions {
  /** The export of `source`, when the caller already built it (e.g. for `--out` too). Default: built here. */
  built?: ClassifierExport;
}

/** Writes the page for `source` into `dir` (see the module notes); the folder appears complete or not at all. */
export async function exportWebPage(source: string, dir: string, options: WebExportOptions = {}): Promise<WebExportResult> {
  const target = path.resolve(dir);
  const existing = await fsp.readdir(target).catch(() => undefined);
  if (existing && existing.length > 0 && !existing.includes(WEB_MARKER)) {
    throw new ExportError(`${dir} exists and is not an ftk web export; ftk will not overwrite it.`, { code: 'EXPORT_WEB_DIR_IN_USE', suggestion: 'Pass a new or empty folder to --web.' });
  }
  const ort = ortWebDist();
  const built = options.built ?? (await buildClassifierOnnx(source, options));
  const { bytes, ...info } = built;
  const tmp = `${target}.tmp-${process.pid}-${Date.now()}`;
  try {
    await fsp.mkdir(tmp, { recursive: true });
    for (const f of ORT_WEB_FILES) {
      try {
        await fsp.copyFile(path.join(ort.dir, f), path.join(tmp, f));
      } catch (err) {
        throw new ExportError(`onnxruntime-web ${ort.version} has no ${f} in ${ort.dir}.`, { code: 'EXPORT_NO_ORT_WEB', suggestion: 'Reinstall it with `npm ci`.', cause: err });
      }
    }
    await fsp.writeFile(path.join(tmp, WEB_MODEL_FILE), bytes);
    const page = {
      title: `ftk classifier: ${built.classes.join(' / ')}`,
      modelFile: WEB_MODEL_FILE,
      classes: built.classes,
      inputSize: built.input.inputSize,
      crop: built.input.crop,
      accuracy: built.training.accuracy,
      accuracyHow: built.training.accuracyHow,
      description: built.training.description,
      ftkVersion: packageInfo().version,
      ortWebVersion: ort.version,
      sizeBytes: bytes.length,
    };
    await fsp.writeFile(path.join(tmp, 'index.html'), webIndexHtml(page));
    await fsp.writeFile(path.join(tmp, 'app.js'), WEB_APP_JS);
    await fsp.writeFile(path.join(tmp, WEB_MARKER), JSON.stringify({ format: 'ftk-web', source: path.resolve(source), createdAt: new Date().toISOString(), ...page, metadata: built.metadata }, null, 1) + '\n');
    if (existing) await fsp.rm(target, { recursive: true, force: true });
    await fsp.rename(tmp, target);
  } catch (err) {
    await fsp.rm(tmp, { recursive: true, force: true });
    throw err;
  }
  const files = await Promise.all((await fsp.readdir(target)).sort().map(async (name) => ({ name, sizeBytes: (await fsp.stat(path.join(target, name))).size })));
  return { dir: target, files, ortWebVersion: ort.version, export: info };
}

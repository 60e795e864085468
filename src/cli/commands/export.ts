/**
 * `ftk export <model> --out classifier.onnx | --web <dir> | --format tfjs --out <dir>` and
 * `ftk serve <dir>`. The library modules load inside the actions (start-up time).
 */
import { Command } from 'commander';
import { OptionsError } from '../../errors.js';
import { makeOutput, parseIntFlag } from '../io.js';

export interface ExportContext {
  model: string;
  format: 'onnx' | 'tfjs';
  /** ONNX file (onnx) or folder (tfjs). */
  out?: string;
  /** Web page folder (onnx only). */
  web?: string;
  json: boolean;
}

export function exportContext(model: string, raw: Record<string, any>): ExportContext {
  const format = (raw.format ?? 'onnx') as 'onnx' | 'tfjs';
  const fail = (message: string, suggestion: string) => new OptionsError(message, { code: 'EXPORT_OPTIONS', suggestion });
  if (format !== 'onnx' && format !== 'tfjs') throw fail(`--format must be one of [onnx, tfjs]. Received "${format}".`, 'Drop --format (ONNX), or pass --format tfjs.');
  if (!raw.out && !raw.web) throw fail('No destination given.', 'Say where to write: --out classifier.onnx, --web <dir>, or --format tfjs --out <dir>.');
  if (format === 'tfjs' && raw.web) throw fail('--web writes an ONNX page; it does not combine with --format tfjs.', 'Run the two exports separately.');
  if (format === 'tfjs' && !raw.out) throw fail('--format tfjs needs --out <dir>.', 'Add --out <dir>.');
  return { model, format, out: raw.out, web: raw.web, json: Boolean(raw.json) };
}

const mb = (n: number) => `${(n / 1e6).toFixed(2)} MB`;

export async function runExport(ctx: ExportContext): Promise<number> {
  const out = makeOutput(ctx.json);
  const lib = await import('../../export/index.js');
  const notice = (m: string) => process.stderr.write(`${m}\n`);
  const doc: Record<string, unknown> = {};
  const lines: string[] = [];
  if (ctx.format === 'tfjs') {
    const r = await lib.exportTfjs(ctx.model, ctx.out!);
    doc.tfjs = r;
    lines.push(`wrote TF.js layers model ${r.dir} (${r.files.length} files; preprocessing in model.json userDefinedMetadata and metadata.json)`);
  } else {
    const built = await lib.buildClassifierOnnx(ctx.model, { onNotice: notice });
    lines.push(`${built.training.description}, classes ${built.classes.join(', ')}`);
    if (ctx.out) {
      await lib.writeFileAtomic(ctx.out, built.bytes);
      const { bytes, metadata, ...rest } = built;
      doc.onnx = { file: ctx.out, sizeBytes: bytes.length, ...rest, metadata };
      lines.push(`wrote ${ctx.out} (${mb(bytes.length)}, opset ${built.opset}, ${built.nodeCount} nodes): input pixels uint8 [N, H, W, 3] RGB, outputs probabilities, label`);
    }
    if (ctx.web) {
      const r = await lib.exportWebPage(ctx.model, ctx.web, { onNotice: notice, built });
      doc.web = { dir: r.dir, files: r.files, ortWebVersion: r.ortWebVersion };
      lines.push(`wrote web page ${r.dir} (${r.files.length} files, ${mb(r.files.reduce((a, f) => a + f.sizeBytes, 0))}, onnxruntime-web ${r.ortWebVersion})`);
      lines.push(`open it with: ftk serve ${ctx.web}   (or any static server, e.g. npx http-server ${ctx.web})`);
    }
  }
  out.result(doc, lines.join('\n'));
  return 0;
}

export function exportCommand(action: (ctx: ExportContext) => Promise<number> = runExport): Command {
  return new Command('export')
    .description('Export a classifier (SVM model, fine-tuned model folder, auto bundle) as one ONNX file, a static web page, or a TF.js folder')
    .argument('<model>', 'a saved classifier: the --out of ftk svm fit, ftk finetune or ftk auto (bundle)')
    .option('--out <path>', 'ONNX file to write (or the folder for --format tfjs)')
    .option('--web <dir>', 'write a static offline page (index.html + the ONNX file + onnxruntime-web) into this folder')
    .option('--format <name>', 'onnx, or tfjs (fine-tuned models: model.json with preprocessing metadata)', 'onnx')
    .option('--json', 'print what was written as JSON')
    .action(async (model: string, raw: Record<string, unknown>) => {
      process.exitCode = await action(exportContext(model, raw));
    });
}

export interface ServeContext {
  dir: string;
  port: number;
  host: string;
}

export async function runServe(ctx: ServeContext): Promise<number> {
  const { serveStatic } = await import('../../export/serve.js');
  const server = await serveStatic(ctx.dir, { port: ctx.port, host: ctx.host });
  process.stdout.write(`serving ${ctx.dir} at ${server.url} (Ctrl+C to stop)\n`);
  await new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));
  await server.close();
  return 0;
}

export function serveCommand(action: (ctx: ServeContext) => Promise<number> = runServe): Command {
  return new Command('serve')
    .description('Serve a folder (the page of `ftk export --web`) over HTTP on this machine')
    .argument('<dir>', 'folder to serve')
    .option('--port <n>', 'TCP port', parseIntFlag('--port', 0), 8080)
    .option('--host <addr>', 'interface to listen on', '127.0.0.1')
    .action(async (dir: string, raw: Record<string, any>) => {
      process.exitCode = await action({ dir, port: raw.port, host: raw.host });
    });
}

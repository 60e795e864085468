/** `ftk info`: backend, versions, threads, cache location; with --model, the layers of a model (zoo) or the tensors of an onnx:/tfjs: model. */
import { Command } from 'commander';
import { ZOO_MODEL_NAMES } from '../../models/zoo_names.js';
import { installedBackends } from '../../runtime/backend_probe.js';
import { AUTO_BACKENDS, BACKEND_NAMES } from '../../runtime/names.js';
import { DEVICE_NAMES, describeDevice, type DeviceName } from '../../formats/device.js';
import { ALLOW_SOFTWARE_GPU_ENV, CUDA_INSTALL_COMMAND, listDevices, resolveDevice, type DeviceListing } from '../../runtime/device.js';
import { deviceFromFlags } from '../device_flags.js';
import { packageInfo } from '../../runtime/package_info.js';
import { cacheDbPath, ftkHome, weightsDir } from '../../runtime/paths.js';
import { makeOutput, parseChoice, parseFloatFlag, parseIntFlag } from '../io.js';

export interface InfoContext {
  backend: 'auto' | (typeof BACKEND_NAMES)[number];
  /** --device: also check that this device can be used (an error naming the fix if not). */
  device?: DeviceName;
  model?: string;
  alpha?: number;
  /** Size to measure shapes at, for onnx:/tfjs: models with dynamic H, W. */
  inputSize?: number;
  json: boolean;
}

interface TensorRow {
  name: string;
  opType: string;
  shape: number[];
  layout?: string;
  features: number;
  isOutput: boolean;
}

/** Text lines of a foreign model's candidate bottlenecks. */
function tensorLines(rows: TensorRow[]): string[] {
  const width = Math.min(60, Math.max(4, ...rows.map((r) => r.name.length)));
  const opWidth = Math.max(2, ...rows.map((r) => r.opType.length));
  return rows.map(
    (r) =>
      `  ${r.name.padEnd(width)}  ${r.opType.padEnd(opWidth)} [${r.shape.join(', ')}]${r.layout ? ` ${r.layout.toUpperCase()}` : ''}  -> ${r.features}${r.shape.length === 4 ? ' (avg-pooled)' : ''}${r.isOutput ? '  (graph output)' : ''}`,
  );
}

/** The devices found, as `nvidia-smi` would answer "what will ftk use". */
function deviceLines(d: DeviceListing): string[] {
  const a = d.webgpu.adapter;
  return [
    'devices:',
    `  cpu: ${d.cpu.cores} cores`,
    `  webgpu: ${a ? `${a.description || a.device} (vendor ${a.vendor || '?'}, ${a.architecture || '?'})${a.software ? ' is a software adapter: used only with --device webgpu' : ''}` : `none (${d.webgpu.error})`}; ONNX Runtime webgpu provider ${d.webgpu.onnxProvider ? 'present' : 'missing'}`,
    `  cuda: ${d.cuda.available ? `ONNX Runtime CUDA provider present (${d.cuda.detail})` : `${d.cuda.detail}; to add it: ${CUDA_INSTALL_COMMAND} (CUDA 12 + cuDNN 9)`}`,
    `  --device auto uses: ${d.auto.provider}${d.auto.provider === 'cpu' ? ` (${d.auto.reason})` : ''}${d.allowSoftware ? ` [${ALLOW_SOFTWARE_GPU_ENV} set]` : ''}`,
  ];
}

/** `ftk info --model onnx:<file> | tfjs:<folder>`: the tensors a user can pick with --layer. */
async function externalModelInfo(ctx: InfoContext, kind: 'onnx' | 'tfjs', file: string, info: Record<string, unknown>, lines: string[]): Promise<void> {
  if (kind === 'onnx') {
    const { describeOnnxModel } = await import('../../models/onnx_backbone.js');
    const listing = await describeOnnxModel(file, { inputSize: ctx.inputSize });
    info.onnx = listing;
    const i = listing.input;
    const shape = i.layout === 'nchw' ? `[${i.batch ?? 'N'}, 3, ${i.size ?? 'H'}, ${i.size ?? 'W'}]` : `[${i.batch ?? 'N'}, ${i.size ?? 'H'}, ${i.size ?? 'W'}, 3]`;
    lines.push(
      `\nONNX model ${listing.file}`,
      `  producer ${listing.producer || 'unknown'}, opset ${listing.opset ?? '?'}`,
      `  input ${i.name} ${shape} ${i.layout.toUpperCase()}${i.size === null ? ` (dynamic size: shapes below measured at ${listing.probeSize}x${listing.probeSize}; pass --input-size when extracting)` : ''}${i.batch !== null ? ` (batch fixed at ${i.batch}: images run in chunks of ${i.batch})` : ''}`,
      `  outputs ${listing.outputs.join(', ')}`,
      `\ntensors (candidates for --layer): name, operator, shape per image, features per image`,
      ...tensorLines(listing.tensors),
      `\nThe bottleneck is usually the last tensor before the classifier (e.g. the Flatten or GlobalAveragePool output before the final Gemm/MatMul).`,
    );
  } else {
    const { describeTfjsModel } = await import('../../models/tfjs_backbone.js');
    const listing = await describeTfjsModel(file, { inputSize: ctx.inputSize });
    info.tfjs = listing;
    lines.push(
      `\nTF.js ${listing.format} ${listing.file}`,
      `  input ${listing.inputName} [N, ${listing.probeSize}, ${listing.probeSize}, 3] NHWC`,
      `  outputs ${listing.outputs.join(', ')}`,
      `\n${listing.format === 'graph-model' ? 'nodes' : 'layers'} (candidates for --layer): name, op, shape per image, features per image`,
      ...tensorLines(listing.tensors),
    );
  }
}

/**
 * Without --model and with `--backend auto`, nothing heavy loads: the backend `auto` would pick is
 * read from the installed packages (TF.js initialises on first use, ~0.7 s). With a model or a
 * named backend, TF.js loads and the backend reported is the one initialised.
 */
export async function runInfo(ctx: InfoContext): Promise<number> {
  const out = makeOutput(ctx.json);
  const pkg = packageInfo();
  const lazy = ctx.backend === 'auto' && !ctx.model;
  let backend: { name: string; reason: string; versions: Record<string, string>; threads?: number };
  if (lazy) {
    const installed = installedBackends().filter((b) => b.version);
    const first = installed[0];
    backend = {
      name: first?.name ?? 'none',
      reason: first ? `first installed of ${AUTO_BACKENDS.join(', ')}; loaded on first use` : 'no TF.js backend installed',
      versions: Object.fromEntries(installed.map((b) => [b.package, b.version!])),
    };
  } else {
    const { selectBackend } = await import('../../runtime/backend.js');
    backend = await selectBackend({ backend: ctx.backend });
  }
  const { MODEL_NAMES, MODELS } = lazy ? { MODEL_NAMES: undefined, MODELS: undefined } : await import('../../models/registry.js');
  const devices = await listDevices();
  const info: Record<string, unknown> = {
    ftk: pkg.version,
    node: process.version,
    backend: backend.name,
    backendReason: backend.reason,
    versions: backend.versions,
    ...(backend.threads !== undefined ? { threads: backend.threads } : {}),
    home: ftkHome(),
    featureCache: cacheDbPath(),
    weightsCache: weightsDir(),
    devices,
    ...(MODEL_NAMES
      ? {
          models: MODEL_NAMES.map((name) => ({
            name,
            inputSize: MODELS[name].defaultInputSize,
            preprocessing: MODELS[name].preprocessing,
            alphas: MODELS[name].alphas,
            featureSize: MODELS[name].featureSize(),
          })),
        }
      : {}),
  };
  const lines = [
    `ftk ${pkg.version} on Node ${process.version}`,
    `backend: ${backend.name} (${backend.reason})${backend.threads !== undefined ? `, ${backend.threads} thread(s)` : ''}; ${Object.entries(backend.versions).map(([k, v]) => `${k} ${v}`).join(', ')}`,
    `home: ${info.home}`,
    `feature cache: ${info.featureCache}`,
    `weights cache: ${info.weightsCache}`,
    `models: ${(MODEL_NAMES ?? ZOO_MODEL_NAMES).join(', ')}`,
    ...deviceLines(devices),
  ];
  if (ctx.device) {
    const choice = await resolveDevice(ctx.device);
    info.device = choice.record;
    lines.push(`--device ${ctx.device}: ${describeDevice(choice.record)}`);
  }
  if (ctx.model) {
    const { parseModelSource } = await import('../../models/backbone.js');
    const source = parseModelSource(ctx.model);
    if (source.kind !== 'zoo') {
      await externalModelInfo(ctx, source.kind, source.path, info, lines);
    } else {
      const { getModelSpec } = await import('../../models/registry.js');
      const spec = getModelSpec(ctx.model);
      const model = spec.build({ includeTop: false, alpha: spec.alphas ? ctx.alpha : undefined, pooling: 'none' });
      const layers = model.layers.map((l) => ({ name: l.name, type: l.getClassName(), outputShape: l.outputShape, params: l.countParams() }));
      info.layers = layers;
      lines.push(`\n${spec.displayName} layers (no top): name, type, output shape, params`);
      for (const l of layers) lines.push(`  ${l.name}  ${l.type}  ${JSON.stringify(l.outputShape)}  ${l.params}`);
      model.dispose();
    }
  }
  out.result(info, lines.join('\n'));
  return 0;
}

export function infoCommand(action: (ctx: InfoContext) => Promise<number> = runInfo): Command {
  return new Command('info')
    .description('Show backend, versions, threads, cache locations; with --model, list its layers')
    .option('--backend <name>', `auto, ${BACKEND_NAMES.join(', ')}`, parseChoice('--backend', ['auto', ...BACKEND_NAMES] as const), 'auto')
    .option('--model <name>', 'list the layers of this model (candidates for --layer): a zoo name, onnx:<file.onnx> or tfjs:<folder> (tensors with their shapes)')
    .option('--alpha <alpha>', 'width multiplier for --model (MobileNets)', parseFloatFlag('--alpha', 0.01, 4))
    .option('--input-size <px>', 'onnx:/tfjs: models with dynamic H, W: measure the shapes at this size (default 224)', parseIntFlag('--input-size', 16))
    .option('--device <name>', 'also check that this device can be used: auto, cpu, gpu, webgpu, cuda', parseChoice('--device', DEVICE_NAMES))
    .option('--json', 'print JSON')
    .action(async (raw: Record<string, any>) => {
      process.exitCode = await action({ backend: raw.backend, ...deviceFromFlags(raw), model: raw.model, alpha: raw.alpha, inputSize: raw.inputSize, json: Boolean(raw.json) });
    });
}

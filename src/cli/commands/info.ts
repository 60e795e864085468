/** `ftk info`: backend, versions, threads, cache location; with --model, the layers of a model. */
import { Command } from 'commander';
import { getModelSpec, MODEL_NAMES, MODELS, selectBackend, ftkHome, cacheDbPath, weightsDir } from '../../index.js';
import { BACKEND_NAMES } from '../../runtime/backend.js';
import { packageInfo } from '../../runtime/package_info.js';
import { makeOutput, parseChoice, parseFloatFlag } from '../io.js';

export interface InfoContext {
  backend: 'auto' | (typeof BACKEND_NAMES)[number];
  model?: string;
  alpha?: number;
  json: boolean;
}

export async function runInfo(ctx: InfoContext): Promise<number> {
  const out = makeOutput(ctx.json);
  const backend = await selectBackend({ backend: ctx.backend });
  const pkg = packageInfo();
  const info: Record<string, unknown> = {
    ftk: pkg.version,
    node: process.version,
    backend: backend.name,
    backendReason: backend.reason,
    versions: backend.versions,
    threads: backend.threads,
    home: ftkHome(),
    featureCache: cacheDbPath(),
    weightsCache: weightsDir(),
    models: MODEL_NAMES.map((name) => ({
      name,
      inputSize: MODELS[name].defaultInputSize,
      preprocessing: MODELS[name].preprocessing,
      alphas: MODELS[name].alphas,
      featureSize: MODELS[name].featureSize(),
    })),
  };
  const lines = [
    `ftk ${pkg.version} on Node ${process.version}`,
    `backend: ${backend.name} (${backend.reason}), ${backend.threads} thread(s); ${Object.entries(backend.versions).map(([k, v]) => `${k} ${v}`).join(', ')}`,
    `home: ${info.home}`,
    `feature cache: ${info.featureCache}`,
    `weights cache: ${info.weightsCache}`,
    `models: ${MODEL_NAMES.join(', ')}`,
  ];
  if (ctx.model) {
    const spec = getModelSpec(ctx.model);
    const model = spec.build({ includeTop: false, alpha: spec.alphas ? ctx.alpha : undefined, pooling: 'none' });
    const layers = model.layers.map((l) => ({ name: l.name, type: l.getClassName(), outputShape: l.outputShape, params: l.countParams() }));
    info.layers = layers;
    lines.push(`\n${spec.displayName} layers (no top): name, type, output shape, params`);
    for (const l of layers) lines.push(`  ${l.name}  ${l.type}  ${JSON.stringify(l.outputShape)}  ${l.params}`);
    model.dispose();
  }
  out.result(info, lines.join('\n'));
  return 0;
}

export function infoCommand(action: (ctx: InfoContext) => Promise<number> = runInfo): Command {
  return new Command('info')
    .description('Show backend, versions, threads, cache locations; with --model, list its layers')
    .option('--backend <name>', `auto, ${BACKEND_NAMES.join(', ')}`, parseChoice('--backend', ['auto', ...BACKEND_NAMES] as const), 'auto')
    .option('--model <name>', 'list the layers of this model (candidates for --layer)')
    .option('--alpha <alpha>', 'width multiplier for --model (MobileNets)', parseFloatFlag('--alpha', 0.01, 4))
    .option('--json', 'print JSON')
    .action(async (raw: Record<string, any>) => {
      process.exitCode = await action({ backend: raw.backend, model: raw.model, alpha: raw.alpha, json: Boolean(raw.json) });
    });
}

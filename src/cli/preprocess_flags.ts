/**
 * The preprocessing flags of models from other frameworks (`--model onnx:...` / `tfjs:...`),
 * shared by `bottleneck extract`, `auto`, `finetune` and `info`:
 * `--preprocess torch|tf|caffe|custom`, and for custom `--mean`, `--std`, `--pixel-scale`, `--bgr`.
 */
import { Command, InvalidArgumentError } from 'commander';
import { OptionsError } from '../errors.js';
import { parsePixelScale, PREPROCESS_MODES, type CustomPreprocessOptions } from '../models/preprocess.js';

function parseTriple(name: string) {
  return (value: string): number[] => {
    const parts = value.split(',').map((p) => Number(p.trim()));
    if (!(parts.length === 1 || parts.length === 3) || parts.some((x) => !Number.isFinite(x))) {
      throw new InvalidArgumentError(`${name} must be 3 comma-separated numbers (one per channel, e.g. 0.485,0.456,0.406) or one for all; received "${value}".`);
    }
    return parts;
  };
}

function parseScale(value: string): number {
  try {
    return parsePixelScale(value);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

/** Adds the flags to a command. */
export function addPreprocessFlags(cmd: Command): Command {
  return cmd
    .option('--preprocess <mode>', `onnx:/tfjs: models: input normalisation the model was trained with: ${PREPROCESS_MODES.join(', ')} or custom (torch: torchvision, timm)`)
    .option('--mean <r,g,b>', 'custom preprocessing: per-channel mean, in the model\'s channel order (default 0,0,0)', parseTriple('--mean'))
    .option('--std <r,g,b>', 'custom preprocessing: per-channel std (default 1,1,1)', parseTriple('--std'))
    .option('--pixel-scale <x>', 'custom preprocessing: multiplier of the 0-255 pixels before mean/std, e.g. 1/255 or 1 (default 1/255)', parseScale)
    .option('--bgr', 'custom preprocessing: feed BGR instead of RGB (Caffe, some MXNet models)');
}

/** The typed value of the flags: a mode name, custom options, or undefined when none was given. */
export function preprocessFromFlags(raw: Record<string, any>): string | CustomPreprocessOptions | undefined {
  const custom: CustomPreprocessOptions = {};
  if (raw.mean !== undefined) custom.mean = raw.mean;
  if (raw.std !== undefined) custom.std = raw.std;
  if (raw.pixelScale !== undefined) custom.scale = raw.pixelScale;
  if (raw.bgr) custom.channels = 'bgr';
  const hasCustom = Object.keys(custom).length > 0;
  if (raw.preprocess === undefined) return hasCustom ? custom : undefined;
  if (raw.preprocess === 'custom') return custom;
  if (hasCustom) {
    throw new OptionsError(`--mean, --std, --pixel-scale and --bgr go with --preprocess custom. Received --preprocess ${raw.preprocess}.`, {
      code: 'PREPROCESS_BAD_VALUE',
      suggestion: `Use --preprocess custom with them, or --preprocess ${raw.preprocess} alone.`,
    });
  }
  return raw.preprocess as string;
}

/**
 * `--device auto|cpu|gpu|webgpu|cuda`, shared by every command that runs a model (bottleneck
 * extract, finetune, svm predict, predict, auto, bench, info). What each value means:
 * src/runtime/device.ts; the default ('auto') lives in the library.
 */
import { Command } from 'commander';
import { DEVICE_NAMES, type DeviceName } from '../formats/device.js';
import { parseChoice } from './io.js';

export const DEVICE_HELP = 'where models run: auto (CUDA, else a hardware WebGPU GPU, else the CPU; says why), cpu, gpu (CUDA or WebGPU, an error if none), webgpu (any Vulkan GPU; also software ones), cuda (default: auto)';

/** Adds the flag to a command. */
export function addDeviceFlag(cmd: Command): Command {
  return cmd.option('--device <name>', DEVICE_HELP, parseChoice('--device', DEVICE_NAMES));
}

/** `{ device }` when the flag was given, else nothing (the library's default applies). */
export function deviceFromFlags(raw: Record<string, unknown>): { device?: DeviceName } {
  return raw.device === undefined ? {} : { device: raw.device as DeviceName };
}

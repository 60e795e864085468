/** Shared CLI plumbing: parsing of typed flags, output in text or --json, error printing. */
import { InvalidArgumentError } from 'commander';
import { FtkError } from '../errors.js';

export function parseIntFlag(name: string, min = 1) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`${name} must be an integer >= ${min}; received "${value}".`);
    return n;
  };
}

export function parseFloatFlag(name: string, min = -Infinity, max = Infinity) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isFinite(n) || n < min || n > max) throw new InvalidArgumentError(`${name} must be a number in [${min}, ${max}]; received "${value}".`);
    return n;
  };
}

/** `--workers`: 'auto' or an integer >= 1. */
export function parseWorkersFlag(name: string) {
  return (value: string): number | 'auto' => {
    if (value === 'auto') return 'auto';
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${name} must be 'auto' or an integer >= 1; received "${value}".`);
    return n;
  };
}

export function parseChoice<T extends string>(name: string, choices: readonly T[]) {
  return (value: string): T => {
    if (!(choices as readonly string[]).includes(value)) {
      throw new InvalidArgumentError(`${name} must be one of [${choices.join(', ')}]; received "${value}".`);
    }
    return value as T;
  };
}

/** Where the CLI writes: humans get stderr notices, machines get one JSON document on stdout. */
export interface Output {
  json: boolean;
  /** A line for a human (stderr when --json, so stdout stays parseable). */
  info(line: string): void;
  warn(line: string): void;
  result(value: unknown, text?: string): void;
}

export function makeOutput(json: boolean): Output {
  return {
    json,
    info: (line) => (json ? undefined : process.stdout.write(line + '\n')),
    warn: (line) => process.stderr.write(`warning: ${line}\n`),
    result: (value, text) => {
      if (json) process.stdout.write(JSON.stringify(value, null, 1) + '\n');
      else if (text) process.stdout.write(text + '\n');
    },
  };
}

/** Prints an error the way every ftk command does and returns the exit code. */
export function reportError(err: unknown): number {
  if (err instanceof FtkError) {
    process.stderr.write(`ftk: error: ${err.message}\n`);
    if (err.suggestion) process.stderr.write(`  fix: ${err.suggestion}\n`);
    if (process.env.FTK_DEBUG && err.stack) process.stderr.write(err.stack + '\n');
    return 1;
  }
  const e = err as Error;
  process.stderr.write(`ftk: unexpected error: ${e?.stack ?? String(err)}\n`);
  return 2;
}

/** `--shard i/n`, parsed in a module that loads nothing else (the CLI checks it while parsing flags). */
import { OptionsError } from '../errors.js';

export interface ShardSpec {
  /** 1-based shard number. */
  index: number;
  /** Number of shards. */
  count: number;
}

/** Parses 'i/n' (1 <= i <= n) or checks a `{ index, count }`. */
export function parseShard(spec: string | ShardSpec): ShardSpec {
  let index: number;
  let count: number;
  if (typeof spec === 'string') {
    const m = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(spec);
    if (!m) {
      throw new OptionsError(`--shard must look like i/n (e.g. 1/4). Received "${spec}".`, {
        code: 'OPTIONS_SHARD',
        suggestion: 'Shards count from 1: --shard 1/4 ... --shard 4/4.',
      });
    }
    index = Number(m[1]);
    count = Number(m[2]);
  } else {
    ({ index, count } = spec);
  }
  if (!Number.isInteger(count) || count < 1 || !Number.isInteger(index) || index < 1 || index > count) {
    throw new OptionsError(`--shard i/n needs 1 <= i <= n. Received ${index}/${count}.`, {
      code: 'OPTIONS_SHARD',
      suggestion: index === 0 ? 'Shards count from 1: with a 0-based index (a Kubernetes JOB_COMPLETION_INDEX) pass index+1.' : `Use 1/${count} ... ${count}/${count}.`,
    });
  }
  return { index, count };
}

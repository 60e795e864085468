/**
 * One guard for tests whose inputs may be missing on a developer's machine (../shared, Chromium,
 * python3 modules, a software GPU): skipped there with the reason, a failure in CI (`CI=true`), where
 * every such input is installed by .ci/run and a skip would hide a test that never ran.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';

/** True when running in CI: every optional input must be present. */
export const inCI = process.env.CI === 'true';

/**
 * The skip reason for `node:test`'s `{ skip }` when `ok` is false, else false. In CI a missing input
 * throws at import time instead, so the test file fails and names what is missing.
 */
export function requireInput(name: string, ok: boolean): string | false {
  if (ok) return false;
  const reason = `${name} is not available`;
  if (inCI) throw new Error(`${reason}, and CI=true: .ci/run must install it (a skip in CI would hide a test that never ran)`);
  return reason;
}

/** The shared Keras MobileNet 0.25 no-top weights (../shared/models). */
export const SHARED_H5 = path.resolve('../shared/models/mobilenet_2_5_224_tf_no_top.h5');
/** The shared 2,000 cat and dog photos (../shared/datasets). */
export const CATS_DOGS = path.resolve('../shared/datasets/cats-dogs');

/** `{ skip }` for tests that need the shared weights file. */
export function needSharedWeights(): string | false {
  return requireInput(`the shared weights ${SHARED_H5}`, existsSync(SHARED_H5));
}

/** `{ skip }` for tests that need the shared weights and photos. */
export function needSharedData(): string | false {
  return requireInput(`the shared weights and photos (${SHARED_H5}, ${CATS_DOGS})`, existsSync(SHARED_H5) && existsSync(CATS_DOGS));
}

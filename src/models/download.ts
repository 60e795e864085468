/**
 * Downloading Keras weight files into ftk's cache (Keras' `utils.get_file`, made safe):
 *
 * - a cached file whose hash matches (or that has no published hash) is used without network;
 *   a cached file whose hash does not match is downloaded again;
 * - downloads stream into `<fileName>.part-<pid>-<random>-<host>` in the cache folder, are
 *   fsync'ed, verified (md5 or sha256, as the registry says), then renamed into place atomically,
 *   so a file under its final name is always complete and verified; concurrent downloads of the
 *   same file by several processes each use their own part file and the last rename wins;
 * - any failure removes the part file; the part file of a killed process is removed by the next
 *   download of that file (at once on the same host when that process is gone, else after an hour);
 * - `FTK_WEIGHTS_BASE_URL` (or the `baseUrl` option) points downloads at a mirror of Keras' weight
 *   store: `https://storage.googleapis.com/tensorflow/keras-applications/` is replaced by it, the
 *   rest of the URL and the expected hash stay the same;
 * - the sha256 of the file is always returned: ftk records the sha256 of every weight file it loads.
 *
 * Porting note: Keras does not check MobileNet's weights at all (no hash in mobilenet.py); ftk
 * checks every file it has a hash for, and does not print: progress goes to `onProgress`.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { OptionsError, WeightsError } from '../errors.js';
import { weightsDir } from '../runtime/paths.js';
import { isProcessAlive } from '../runtime/pid.js';
import type { WeightFile } from './types.js';

export type HashAlgorithm = 'sha256' | 'md5';

/** Progress of one download. */
export interface DownloadProgress {
  /** Bytes received so far. */
  bytes: number;
  /** Size announced by the server (Content-Length), when known. */
  total?: number;
  /** Average speed since the request started. */
  bytesPerSecond: number;
}

export interface FetchWeightsOptions {
  /** Folder holding weight files. Default `weightsDir()` (`<ftk home>/weights`, see src/runtime/paths.ts). */
  cacheDir?: string;
  /**
   * Called while downloading, at most every `progressIntervalMs`, and once at the end with the
   * final byte count. Not called on a cache hit. Default: none.
   */
  onProgress?: (progress: DownloadProgress) => void;
  /** Minimum time between two `onProgress` calls, in ms. Default 100. */
  progressIntervalMs?: number;
  /** Abort when no byte arrives for this long (connecting included), in ms. Default 60000. */
  idleTimeoutMs?: number;
  /** `fetch` to use (tests, proxies). Default the global `fetch`. */
  fetchImpl?: typeof fetch;
  /**
   * A mirror of Keras' weight store (http or https URL), replacing `KERAS_WEIGHTS_BASE_URL` at the
   * start of registry URLs. Default `$FTK_WEIGHTS_BASE_URL`, else none (Keras' own store).
   */
  baseUrl?: string;
}

/** Where Keras Applications' weight files live; `baseUrl` / `FTK_WEIGHTS_BASE_URL` replace it. */
export const KERAS_WEIGHTS_BASE_URL = 'https://storage.googleapis.com/tensorflow/keras-applications/';

/** The URL a registry URL is downloaded from, with the mirror (if any) in place of Keras' store. */
export function weightsUrl(url: string, baseUrl: string | undefined = process.env.FTK_WEIGHTS_BASE_URL): string {
  if (baseUrl === undefined || baseUrl.trim() === '' || !url.startsWith(KERAS_WEIGHTS_BASE_URL)) return url;
  let parsed: URL;
  try {
    parsed = new URL(baseUrl.trim());
  } catch {
    parsed = new URL('invalid:');
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new OptionsError(`The weights mirror must be an http(s) URL. Received FTK_WEIGHTS_BASE_URL / baseUrl = '${baseUrl}'.`, {
      code: 'WEIGHTS_BAD_BASE_URL',
      suggestion: 'Set FTK_WEIGHTS_BASE_URL to a URL such as https://mirror.example.com/keras-applications/, or unset it.',
    });
  }
  const base = parsed.href.endsWith('/') ? parsed.href : `${parsed.href}/`;
  return base + url.slice(KERAS_WEIGHTS_BASE_URL.length);
}

export interface FetchedWeights {
  /** Absolute path of the verified file in the cache. */
  path: string;
  /** sha256 of the file (hex), whatever algorithm the registry publishes. */
  sha256: string;
  /** True when the file was downloaded by this call, false on a cache hit. */
  downloaded: boolean;
}

const DEFAULT_PROGRESS_INTERVAL_MS = 100;
const DEFAULT_IDLE_TIMEOUT_MS = 60_000;
/** Part files of dead processes are removed once they are this old. */
const STALE_PART_AGE_MS = 60 * 60 * 1000;

/**
 * Returns the path and sha256 of a weight file, downloading it into the cache first unless a
 * verified copy is already there.
 *
 * Cost: on a cache hit the file is read once to hash it (about 1 s per 500 MB); a miss downloads it.
 *
 * @throws WeightsError when offline, on an HTTP error, an interrupted transfer or a hash mismatch;
 *   the message names the URL and the suggestion explains how to pass the file by hand (`--weights`).
 *
 * @example
 *   const { path, sha256 } = await fetchWeights(spec.imagenetWeights({ includeTop: false, alpha: 0.25 })!, {
 *     onProgress: (p) => bar.update(p.bytes, p.total),
 *   });
 */
export async function fetchWeights(file: WeightFile, options: FetchWeightsOptions = {}): Promise<FetchedWeights> {
  const { fileName } = file;
  const url = weightsUrl(file.url, options.baseUrl);
  if (fileName === '' || path.basename(fileName) !== fileName || fileName === '.' || fileName === '..') {
    throw new OptionsError(`Weight file name must be a plain file name, received '${fileName}'.`, {
      code: 'WEIGHTS_BAD_FILE_NAME',
      suggestion: 'Fix the weight file entry in the model registry.',
    });
  }
  const algorithm: HashAlgorithm = file.hashAlgorithm ?? 'sha256';
  const expected = file.hash?.trim().toLowerCase();
  if (expected !== undefined && !isHexDigest(expected, algorithm)) {
    throw new OptionsError(
      `Hash of ${fileName} must be a ${algorithm} hex digest (${digestLength(algorithm)} hex digits), received '${file.hash}'.`,
      { code: 'WEIGHTS_BAD_HASH', suggestion: 'Fix the weight file entry in the model registry.' },
    );
  }
  const cacheDir = path.resolve(options.cacheDir ?? weightsDir());
  const finalPath = path.join(cacheDir, fileName);

  // 1. Cache hit?
  const existing = await hashesIfFile(finalPath, algorithm);
  if (existing !== undefined && (expected === undefined || existing.digest === expected)) {
    return { path: finalPath, sha256: existing.sha256, downloaded: false };
  }

  // 2. Download into a private part file, verify, rename.
  try {
    await mkdir(cacheDir, { recursive: true });
  } catch (err) {
    throw new WeightsError(`Cannot create the weights folder ${cacheDir}: ${errorText(err)}.`, {
      code: 'WEIGHTS_CACHE_DIR',
      suggestion: 'Set FTK_HOME to a writable folder, or pass the weight file with --weights path.h5.',
      cause: err,
    });
  }
  await removeStalePartFiles(cacheDir, fileName);
  const partPath = `${finalPath}.part-${process.pid}-${randomBytes(6).toString('hex')}-${HOST_TAG}`;
  try {
    const { sha256, digest } = await downloadTo(url, fileName, partPath, algorithm, options);
    if (expected !== undefined && digest !== expected) {
      throw new WeightsError(
        `Checksum mismatch for ${url}: expected ${algorithm} ${expected}, received ${digest}.`,
        {
          code: 'WEIGHTS_CHECKSUM_MISMATCH',
          suggestion:
            'The download was corrupted or the file on the server changed; nothing was kept. Run again to retry. ' +
            `If it keeps failing, download ${url} by hand, check it, and pass it with --weights path/to/${fileName}.`,
        },
      );
    }
    await rename(partPath, finalPath);
    await fsyncDir(cacheDir);
    return { path: finalPath, sha256, downloaded: true };
  } catch (err) {
    await unlink(partPath).catch(() => undefined);
    throw err;
  }
}

/** Streaming hash of a file, hex. */
export async function hashFile(filePath: string, algorithm: HashAlgorithm = 'sha256'): Promise<string> {
  const [digest] = await hashFileMany(filePath, [algorithm]);
  return digest;
}

/** Streaming sha256 of a file, hex. */
export function sha256File(filePath: string): Promise<string> {
  return hashFile(filePath, 'sha256');
}

/** Several digests of one file in a single read. */
async function hashFileMany(filePath: string, algorithms: readonly HashAlgorithm[]): Promise<string[]> {
  const hashes = algorithms.map((a) => createHash(a));
  for await (const chunk of createReadStream(filePath, { highWaterMark: 1 << 20 })) {
    for (const h of hashes) h.update(chunk as Buffer);
  }
  return hashes.map((h) => h.digest('hex'));
}

async function hashesIfFile(
  filePath: string,
  algorithm: HashAlgorithm,
): Promise<{ sha256: string; digest: string } | undefined> {
  try {
    if (!(await stat(filePath)).isFile()) return undefined;
  } catch {
    return undefined;
  }
  if (algorithm === 'sha256') {
    const sha256 = await hashFile(filePath, 'sha256');
    return { sha256, digest: sha256 };
  }
  const [sha256, other] = await hashFileMany(filePath, ['sha256', algorithm]);
  return { sha256, digest: other };
}

/** Streams `url` into `partPath` (created exclusively), fsyncs it and returns its digests. */
async function downloadTo(
  url: string,
  fileName: string,
  partPath: string,
  algorithm: HashAlgorithm,
  options: FetchWeightsOptions,
): Promise<{ sha256: string; digest: string; bytes: number }> {
  const fetchImpl = options.fetchImpl ?? globalThis.fetch;
  const idleTimeoutMs = options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
  const progressIntervalMs = options.progressIntervalMs ?? DEFAULT_PROGRESS_INTERVAL_MS;
  const byHand = `Download ${url} by hand (browser, curl) and pass it with --weights path/to/${fileName}.`;

  const controller = new AbortController();
  let idleTimer: NodeJS.Timeout | undefined;
  let timedOut = false;
  const armIdleTimer = (): void => {
    if (idleTimer !== undefined) clearTimeout(idleTimer);
    idleTimer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, idleTimeoutMs);
  };

  const started = Date.now();
  let bytes = 0;
  let total: number | undefined;
  let handle: FileHandle;
  try {
    handle = await open(partPath, 'wx');
  } catch (err) {
    throw new WeightsError(`Cannot write ${partPath}: ${errorText(err)}.`, {
      code: 'WEIGHTS_CACHE_DIR',
      suggestion: `Set FTK_HOME to a writable folder, or: ${byHand}`,
      cause: err,
    });
  }
  let closed = false;
  try {
    armIdleTimer();
    let response: Response;
    try {
      response = await fetchImpl(url, { signal: controller.signal, redirect: 'follow' });
    } catch (err) {
      throw new WeightsError(
        timedOut
          ? `No answer from ${url} within ${idleTimeoutMs / 1000} s while fetching ${fileName}.`
          : `Could not download ${fileName} from ${url}: ${errorText(err)}. This machine looks offline ` +
              '(or the server is unreachable through its network or proxy).',
        { code: 'WEIGHTS_OFFLINE', suggestion: `Connect and run again, or: ${byHand}`, cause: err },
      );
    }
    if (!response.ok || response.body === null) {
      throw new WeightsError(
        `Could not download ${fileName} from ${url}: the server answered HTTP ${response.status}` +
          `${response.statusText ? ` ${response.statusText}` : ''}, expected 200 with the file.`,
        { code: 'WEIGHTS_HTTP_ERROR', suggestion: `Retry later, or: ${byHand}` },
      );
    }
    const announced = Number(response.headers.get('content-length'));
    // A compressed transfer's length is not the file's length.
    const encoded = (response.headers.get('content-encoding') ?? 'identity') !== 'identity';
    total = Number.isFinite(announced) && announced > 0 && !encoded ? announced : undefined;

    const sha = createHash('sha256');
    const other = algorithm === 'sha256' ? undefined : createHash(algorithm);
    let lastReport = 0;
    const report = (force: boolean): void => {
      if (options.onProgress === undefined) return;
      const now = Date.now();
      if (!force && now - lastReport < progressIntervalMs) return;
      lastReport = now;
      const seconds = Math.max((now - started) / 1000, 1e-3);
      options.onProgress({ bytes, total, bytesPerSecond: bytes / seconds });
    };

    const reader = response.body.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        armIdleTimer();
        if (value.byteLength === 0) continue;
        await writeAll(handle, value);
        sha.update(value);
        other?.update(value);
        bytes += value.byteLength;
        report(false);
      }
    } catch (err) {
      if (err instanceof WeightsError) throw err;
      throw new WeightsError(
        `The download of ${url} was interrupted after ${bytes}${total !== undefined ? ` of ${total}` : ''} bytes` +
          `${timedOut ? ` (no data for ${idleTimeoutMs / 1000} s)` : `: ${errorText(err)}`}. Nothing was kept.`,
        { code: 'WEIGHTS_DOWNLOAD_INTERRUPTED', suggestion: `Check the connection and run again, or: ${byHand}`, cause: err },
      );
    } finally {
      reader.releaseLock();
    }
    if (total !== undefined && bytes !== total) {
      throw new WeightsError(
        `The download of ${url} ended after ${bytes} of ${total} announced bytes. Nothing was kept.`,
        { code: 'WEIGHTS_DOWNLOAD_INTERRUPTED', suggestion: `Check the connection and run again, or: ${byHand}` },
      );
    }
    report(true);
    await handle.sync();
    closed = true;
    await handle.close();
    const sha256 = sha.digest('hex');
    return { sha256, digest: other === undefined ? sha256 : other.digest('hex'), bytes };
  } finally {
    if (idleTimer !== undefined) clearTimeout(idleTimer);
    if (!closed) await handle.close().catch(() => undefined);
  }
}

async function writeAll(handle: FileHandle, chunk: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < chunk.byteLength) {
    const { bytesWritten } = await handle.write(chunk, offset, chunk.byteLength - offset);
    offset += bytesWritten;
  }
}

/** Makes the rename durable (POSIX); directories cannot be opened for fsync on Windows. */
async function fsyncDir(dir: string): Promise<void> {
  if (process.platform === 'win32') return;
  try {
    const h = await open(dir, 'r');
    try {
      await h.sync();
    } finally {
      await h.close();
    }
  } catch {
    // Best effort: some file systems refuse fsync on directories.
  }
}

/** Tells this machine's part files from those of other machines sharing the cache folder. */
const HOST_TAG = createHash('sha256').update(os.hostname()).digest('hex').slice(0, 8);

/** @internal The host part of this machine's part-file names (tests). */
export function hostTag(): string {
  return HOST_TAG;
}

/**
 * Removes `<fileName>.part-<pid>-<random>[-<host>]` left by processes killed mid-download, when
 * that pid is not running: at once if the part file was written on this host, else (another
 * machine sharing the folder may be downloading under the same pid) once it is over an hour old.
 */
async function removeStalePartFiles(dir: string, fileName: string): Promise<void> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return;
  }
  const prefix = `${fileName}.part-`;
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const [pidText, , host] = name.slice(prefix.length).split('-');
    const pid = Number(pidText);
    if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid || isProcessAlive(pid)) continue;
    const full = path.join(dir, name);
    try {
      if (host === HOST_TAG || Date.now() - (await stat(full)).mtimeMs > STALE_PART_AGE_MS) await unlink(full);
    } catch {
      // Another process may have removed it already.
    }
  }
}

function digestLength(algorithm: HashAlgorithm): number {
  return algorithm === 'md5' ? 32 : 64;
}

function isHexDigest(value: string, algorithm: HashAlgorithm): boolean {
  return value.length === digestLength(algorithm) && /^[0-9a-f]+$/.test(value);
}

function errorText(err: unknown): string {
  if (err instanceof Error) {
    const cause = (err as Error & { cause?: unknown }).cause;
    const causeText = cause instanceof Error ? cause.message || (cause as NodeJS.ErrnoException).code : undefined;
    return causeText ? `${err.message} (${causeText})` : err.message;
  }
  return String(err);
}

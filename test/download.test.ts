/**
 * Weight download: cache hits without network, checksums, interrupted transfers, progress, and
 * ftk's home folder. Every test serves files from a local HTTP server on 127.0.0.1 and writes
 * only into a fresh temporary folder.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { OptionsError, WeightsError } from '../src/errors.js';
import { fetchWeights, hashFile, KERAS_WEIGHTS_BASE_URL, sha256File, weightsUrl } from '../src/models/download.js';
import { getModelSpec } from '../src/models/registry.js';
import type { WeightFile } from '../src/models/types.js';
import { cacheDbPath, ftkHome, weightsDir } from '../src/runtime/paths.js';
import { needSharedWeights, SHARED_H5 } from './helpers/requires.js';

/** Deterministic bytes. */
function payload(size: number, seed = 1): Buffer {
  const b = Buffer.alloc(size);
  let s = seed >>> 0;
  for (let i = 0; i < size; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    b[i] = s >>> 24;
  }
  return b;
}

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const md5 = (b: Buffer): string => createHash('md5').update(b).digest('hex');

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

interface TestServer {
  url: (name: string) => string;
  requests: () => number;
  close: () => Promise<void>;
}

async function serve(handler: Handler): Promise<TestServer> {
  let count = 0;
  const server = http.createServer((req, res) => {
    count++;
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: (name) => `http://127.0.0.1:${port}/${name}`,
    requests: () => count,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

test('MobileNet 0.25 no-top weights: the pinned sha256 accepts the real Keras file through a mirror and refuses a tampered copy', { skip: needSharedWeights() }, async (t) => {
  const spec = getModelSpec('mobilenet');
  const file = spec.imagenetWeights({ includeTop: false, alpha: 0.25 })!;
  assert.equal(file.fileName, 'mobilenet_2_5_224_tf_no_top.h5');
  assert.equal(file.hashAlgorithm, 'sha256');
  assert.equal(spec.imagenetWeights({ includeTop: true, alpha: 0.25 })!.hash, undefined, 'only verified files are pinned');
  const real = await readFile(SHARED_H5);
  const tampered = Buffer.from(real);
  tampered[tampered.length >> 1] ^= 1;
  let body = real;
  const server = await serve((req, res) => fileHandler(body)(req, res));
  t.after(server.close);
  const cacheDir = await tempDir(t);
  const fetched = await fetchWeights(file, { cacheDir, baseUrl: server.url('mirror') });
  assert.equal(fetched.sha256, sha256(real));
  await rm(fetched.path);
  body = tampered;
  await assert.rejects(
    fetchWeights(file, { cacheDir, baseUrl: server.url('mirror') }),
    (e: unknown) => e instanceof WeightsError && e.code === 'WEIGHTS_CHECKSUM_MISMATCH',
  );
  assert.deepEqual(await readdir(cacheDir), [], 'nothing kept');
});

/** Serves `body` in 64 KiB pieces with a Content-Length, like a static file server. */
function fileHandler(body: Buffer): Handler {
  return (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(body.length) });
    let offset = 0;
    const pump = (): void => {
      while (offset < body.length) {
        const piece = body.subarray(offset, offset + 65536);
        offset += piece.length;
        if (!res.write(piece)) {
          res.once('drain', pump);
          return;
        }
      }
      res.end();
    };
    pump();
  };
}

async function tempDir(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ftk-download-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test('downloads, verifies sha256, then serves the cached file without a second request', async (t) => {
  const body = payload(300_000);
  const server = await serve(fileHandler(body));
  t.after(server.close);
  const cacheDir = await tempDir(t);
  const file: WeightFile = { url: server.url('w.h5'), fileName: 'w.h5', hash: sha256(body), hashAlgorithm: 'sha256' };

  const first = await fetchWeights(file, { cacheDir });
  assert.equal(first.path, path.join(cacheDir, 'w.h5'));
  assert.equal(first.sha256, sha256(body));
  assert.equal(first.downloaded, true);
  assert.deepEqual(await readFile(first.path), body);
  assert.deepEqual(await readdir(cacheDir), ['w.h5'], 'no part file left behind');
  assert.equal(server.requests(), 1);

  const second = await fetchWeights(file, { cacheDir });
  assert.equal(server.requests(), 1, 'cache hit makes no request');
  assert.deepEqual(second, { path: first.path, sha256: first.sha256, downloaded: false });
});

test('md5-published file: verified with md5, still returns its sha256; uppercase hash accepted', async (t) => {
  const body = payload(50_000, 7);
  const server = await serve(fileHandler(body));
  t.after(server.close);
  const cacheDir = await tempDir(t);
  const file: WeightFile = { url: server.url('m.h5'), fileName: 'm.h5', hash: md5(body).toUpperCase(), hashAlgorithm: 'md5' };
  const got = await fetchWeights(file, { cacheDir });
  assert.equal(got.sha256, sha256(body));
  const again = await fetchWeights(file, { cacheDir });
  assert.equal(again.downloaded, false);
  assert.equal(server.requests(), 1);
});

test('checksum mismatch: WeightsError naming URL, expected and received hash; nothing left in the cache', async (t) => {
  const body = payload(100_000, 3);
  const server = await serve(fileHandler(body));
  t.after(server.close);
  const cacheDir = await tempDir(t);
  const wrong = 'ab'.repeat(32);
  const file: WeightFile = { url: server.url('bad.h5'), fileName: 'bad.h5', hash: wrong, hashAlgorithm: 'sha256' };
  await assert.rejects(fetchWeights(file, { cacheDir }), (err: unknown) => {
    assert.ok(err instanceof WeightsError);
    assert.equal(err.code, 'WEIGHTS_CHECKSUM_MISMATCH');
    assert.match(err.message, new RegExp(file.url.replace(/[.]/g, '\\.')));
    assert.match(err.message, new RegExp(wrong));
    assert.match(err.message, new RegExp(sha256(body)));
    assert.match(err.suggestion ?? '', /--weights/);
    return true;
  });
  assert.deepEqual(await readdir(cacheDir), []);
});

test('a corrupted cached file is downloaded again and replaced', async (t) => {
  const body = payload(80_000, 4);
  const server = await serve(fileHandler(body));
  t.after(server.close);
  const cacheDir = await tempDir(t);
  await writeFile(path.join(cacheDir, 'c.h5'), body.subarray(0, 1000));
  const file: WeightFile = { url: server.url('c.h5'), fileName: 'c.h5', hash: sha256(body), hashAlgorithm: 'sha256' };
  const got = await fetchWeights(file, { cacheDir });
  assert.equal(got.downloaded, true);
  assert.equal(server.requests(), 1);
  assert.deepEqual(await readFile(got.path), body);
});

test('no published hash: downloaded once, sha256 still returned, cached afterwards', async (t) => {
  const body = payload(20_000, 5);
  const server = await serve(fileHandler(body));
  t.after(server.close);
  const cacheDir = await tempDir(t);
  const file: WeightFile = { url: server.url('n.h5'), fileName: 'n.h5' };
  assert.equal((await fetchWeights(file, { cacheDir })).sha256, sha256(body));
  assert.equal((await fetchWeights(file, { cacheDir })).sha256, sha256(body));
  assert.equal(server.requests(), 1);
});

test('server dies mid-transfer (with Content-Length): WeightsError, no file that would load', async (t) => {
  const body = payload(400_000, 6);
  const server = await serve((req, res) => {
    res.writeHead(200, { 'content-length': String(body.length) });
    res.write(body.subarray(0, 150_000), () => setTimeout(() => req.socket.destroy(), 20));
  });
  t.after(server.close);
  const cacheDir = await tempDir(t);
  const file: WeightFile = { url: server.url('d.h5'), fileName: 'd.h5', hash: sha256(body), hashAlgorithm: 'sha256' };
  const progress: number[] = [];
  await assert.rejects(fetchWeights(file, { cacheDir, onProgress: (p) => progress.push(p.bytes) }), (err: unknown) => {
    assert.ok(err instanceof WeightsError);
    assert.equal(err.code, 'WEIGHTS_DOWNLOAD_INTERRUPTED');
    assert.match(err.message, /interrupted|ended after/);
    assert.match(err.suggestion ?? '', /--weights/);
    return true;
  });
  assert.deepEqual(await readdir(cacheDir), []);
});

test('server dies mid-transfer (chunked, no hash, no length): WeightsError, nothing kept', async (t) => {
  const server = await serve((req, res) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream' }); // chunked encoding
    res.write(payload(100_000, 8), () => setTimeout(() => req.socket.destroy(), 20));
  });
  t.after(server.close);
  const cacheDir = await tempDir(t);
  const file: WeightFile = { url: server.url('e.h5'), fileName: 'e.h5' };
  await assert.rejects(fetchWeights(file, { cacheDir }), WeightsError);
  assert.deepEqual(await readdir(cacheDir), []);
});

test('a stalled server hits the idle timeout: WeightsError, nothing kept', async (t) => {
  const server = await serve((_req, res) => {
    res.writeHead(200, { 'content-length': '100000' });
    res.write(payload(1000, 9)); // then silence
  });
  t.after(server.close);
  const cacheDir = await tempDir(t);
  const file: WeightFile = { url: server.url('s.h5'), fileName: 's.h5' };
  const t0 = Date.now();
  await assert.rejects(fetchWeights(file, { cacheDir, idleTimeoutMs: 300 }), (err: unknown) => {
    assert.ok(err instanceof WeightsError);
    assert.match(err.message, /after 1000 of 100000 bytes/);
    return true;
  });
  assert.ok(Date.now() - t0 < 5000);
  assert.deepEqual(await readdir(cacheDir), []);
});

test('progress: called with growing byte counts, the total, and a final call at 100%', async (t) => {
  const body = payload(1_000_000, 10);
  const server = await serve(fileHandler(body));
  t.after(server.close);
  const cacheDir = await tempDir(t);
  const calls: { bytes: number; total?: number; bytesPerSecond: number }[] = [];
  await fetchWeights(
    { url: server.url('p.h5'), fileName: 'p.h5', hash: sha256(body), hashAlgorithm: 'sha256' },
    { cacheDir, progressIntervalMs: 0, onProgress: (p) => calls.push(p) },
  );
  assert.ok(calls.length >= 2, `${calls.length} progress calls`);
  for (let i = 1; i < calls.length; i++) assert.ok(calls[i].bytes >= calls[i - 1].bytes);
  for (const c of calls) {
    assert.equal(c.total, body.length);
    assert.ok(Number.isFinite(c.bytesPerSecond) && c.bytesPerSecond >= 0);
  }
  assert.equal(calls.at(-1)!.bytes, body.length);
  // Cache hit: no progress at all.
  const before = calls.length;
  await fetchWeights(
    { url: server.url('p.h5'), fileName: 'p.h5', hash: sha256(body), hashAlgorithm: 'sha256' },
    { cacheDir, onProgress: (p) => calls.push(p) },
  );
  assert.equal(calls.length, before);
});

test('offline (connection refused): WeightsError telling to pass --weights, with the URL', async (t) => {
  const server = await serve(fileHandler(payload(10)));
  const url = server.url('o.h5');
  await server.close(); // nothing listens on that port any more
  const cacheDir = await tempDir(t);
  await assert.rejects(fetchWeights({ url, fileName: 'o.h5' }, { cacheDir }), (err: unknown) => {
    assert.ok(err instanceof WeightsError);
    assert.equal(err.code, 'WEIGHTS_OFFLINE');
    assert.match(err.message, /offline/);
    assert.ok(err.message.includes(url));
    assert.ok((err.suggestion ?? '').includes(url));
    assert.match(err.suggestion ?? '', /--weights path\/to\/o\.h5/);
    return true;
  });
  assert.deepEqual(await readdir(cacheDir), []);
});

test('fetchImpl is used instead of the global fetch; HTTP 404 is a WeightsError', async (t) => {
  const cacheDir = await tempDir(t);
  const seen: string[] = [];
  const fake = (async (input: string | URL | Request) => {
    seen.push(String(input));
    return new Response('not here', { status: 404, statusText: 'Not Found' });
  }) as typeof fetch;
  await assert.rejects(
    fetchWeights({ url: 'https://example.invalid/x.h5', fileName: 'x.h5' }, { cacheDir, fetchImpl: fake }),
    (err: unknown) => err instanceof WeightsError && err.code === 'WEIGHTS_HTTP_ERROR' && /HTTP 404/.test(err.message),
  );
  assert.deepEqual(seen, ['https://example.invalid/x.h5']);
  assert.deepEqual(await readdir(cacheDir), []);
});

test('default cache folder is <FTK_HOME>/weights (env restored afterwards)', async (t) => {
  const home = await tempDir(t);
  const saved = process.env.FTK_HOME;
  process.env.FTK_HOME = home;
  t.after(() => {
    if (saved === undefined) delete process.env.FTK_HOME;
    else process.env.FTK_HOME = saved;
  });
  const body = payload(1000, 11);
  const server = await serve(fileHandler(body));
  t.after(server.close);
  const got = await fetchWeights({ url: server.url('h.h5'), fileName: 'h.h5', hash: sha256(body), hashAlgorithm: 'sha256' });
  assert.equal(got.path, path.join(home, 'weights', 'h.h5'));
});

test('file names with a path are refused; malformed hashes are refused', async (t) => {
  const cacheDir = await tempDir(t);
  await assert.rejects(fetchWeights({ url: 'http://127.0.0.1:1/a', fileName: '../a.h5' }, { cacheDir }), /plain file name/);
  await assert.rejects(
    fetchWeights({ url: 'http://127.0.0.1:1/a', fileName: 'a.h5', hash: 'abc', hashAlgorithm: 'md5' }, { cacheDir }),
    /32 hex digits/,
  );
});

test('hashFile streams md5 and sha256 equal to node:crypto on the whole buffer', async (t) => {
  const dir = await tempDir(t);
  const body = payload(3_000_000, 12); // several read chunks
  const p = path.join(dir, 'f.bin');
  await writeFile(p, body);
  assert.equal(await hashFile(p, 'sha256'), sha256(body));
  assert.equal(await hashFile(p, 'md5'), md5(body));
  assert.equal(await sha256File(p), sha256(body));
  const empty = path.join(dir, 'empty.bin');
  await writeFile(empty, '');
  assert.equal(await hashFile(empty), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
});

test('ftkHome: FTK_HOME, then XDG_CACHE_HOME/ftk, then the platform cache folder', () => {
  const linux = { platform: 'linux' as const, homedir: '/home/u' };
  assert.equal(ftkHome({ FTK_HOME: '/data/ftk', XDG_CACHE_HOME: '/xdg' }, linux), '/data/ftk');
  assert.equal(ftkHome({ FTK_HOME: '', XDG_CACHE_HOME: '/xdg' }, linux), '/xdg/ftk');
  assert.equal(ftkHome({}, linux), '/home/u/.cache/ftk');
  assert.equal(ftkHome({}, { platform: 'darwin', homedir: '/Users/u' }), '/Users/u/Library/Caches/ftk');
  assert.equal(
    ftkHome({ LOCALAPPDATA: 'C:\\Users\\u\\AppData\\Local' }, { platform: 'win32', homedir: 'C:\\Users\\u' }),
    'C:\\Users\\u\\AppData\\Local\\ftk',
  );
  assert.equal(ftkHome({}, { platform: 'win32', homedir: 'C:\\Users\\u' }), 'C:\\Users\\u\\AppData\\Local\\ftk');
  assert.equal(weightsDir({ FTK_HOME: '/data/ftk' }, linux), '/data/ftk/weights');
  assert.equal(cacheDbPath({ FTK_HOME: '/data/ftk' }, linux), '/data/ftk/cache/features.sqlite');
  assert.equal(cacheDbPath({}, linux), '/home/u/.cache/ftk/cache/features.sqlite');
  // A relative FTK_HOME is made absolute.
  assert.ok(path.isAbsolute(ftkHome({ FTK_HOME: 'rel/ftk' }, linux)));
});

test('FTK_WEIGHTS_BASE_URL / baseUrl: Keras URLs go to the mirror, the hash still applies; a bad mirror URL is refused', async (t) => {
  const body = payload(70_000, 9);
  let asked = '';
  const server = await serve((req, res) => {
    asked = req.url ?? '';
    fileHandler(body)(req, res);
  });
  t.after(server.close);
  const cacheDir = await tempDir(t);
  const kerasUrl = `${KERAS_WEIGHTS_BASE_URL}mobilenet/m.h5`;
  const mirror = server.url('mirror');
  assert.equal(weightsUrl(kerasUrl, undefined), kerasUrl);
  assert.equal(weightsUrl(kerasUrl, mirror), `${mirror}/mobilenet/m.h5`);
  assert.equal(weightsUrl(kerasUrl, `${mirror}/`), `${mirror}/mobilenet/m.h5`);
  assert.equal(weightsUrl('https://example.com/other.h5', mirror), 'https://example.com/other.h5', 'only Keras URLs are redirected');
  assert.throws(() => weightsUrl(kerasUrl, 'file:///etc/'), (e: unknown) => e instanceof OptionsError && /must be an http\(s\) URL/.test(e.message));
  const fetched = await fetchWeights({ url: kerasUrl, fileName: 'm.h5', hash: sha256(body) }, { cacheDir, baseUrl: mirror });
  assert.equal(asked, '/mirror/mobilenet/m.h5');
  assert.equal(fetched.sha256, sha256(body));
  await rm(fetched.path);
  await assert.rejects(
    fetchWeights({ url: kerasUrl, fileName: 'm.h5', hash: sha256(payload(10, 1)) }, { cacheDir, baseUrl: mirror }),
    (e: unknown) => e instanceof WeightsError && e.code === 'WEIGHTS_CHECKSUM_MISMATCH' && e.message.includes(`${mirror}/mobilenet/m.h5`),
  );
  const saved = process.env.FTK_WEIGHTS_BASE_URL;
  process.env.FTK_WEIGHTS_BASE_URL = mirror;
  try {
    assert.equal(weightsUrl(kerasUrl), `${mirror}/mobilenet/m.h5`, 'the environment variable is the default');
  } finally {
    if (saved === undefined) delete process.env.FTK_WEIGHTS_BASE_URL;
    else process.env.FTK_WEIGHTS_BASE_URL = saved;
  }
});

test("a killed download's part file is removed by the next download on this host; another host's only after an hour", async (t) => {
  const body = payload(50_000, 4);
  const server = await serve(fileHandler(body));
  t.after(server.close);
  const cacheDir = await tempDir(t);
  // A pid that is not running: a child that has exited.
  const { spawnSync } = await import('node:child_process');
  const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  const deadPid = Number(dead.stdout);
  const { hostTag } = await import('../src/models/download.js');
  const ours = `w.h5.part-${deadPid}-aaaaaaaaaaaa-${hostTag()}`;
  const theirs = `w.h5.part-${deadPid}-bbbbbbbbbbbb-00000000`;
  const oldFormat = `w.h5.part-${deadPid}-cccccccccccc`;
  for (const name of [ours, theirs, oldFormat]) await writeFile(path.join(cacheDir, name), 'partial');
  await fetchWeights({ url: server.url('w.h5'), fileName: 'w.h5', hash: sha256(body) }, { cacheDir });
  assert.deepEqual((await readdir(cacheDir)).sort(), [oldFormat, theirs, 'w.h5'].sort(), "this host's dead part file removed, recent others kept");
});

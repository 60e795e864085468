/**
 * Crash safety: the real `ftk` binary killed with SIGKILL at random moments of four jobs, each
 * kill followed by a rerun of the same command to completion, compared with an uninterrupted run.
 *
 * - `ftk bottleneck extract` (320 cats-dogs photos on ONNX Runtime, 96 on TF.js, MobileNet 0.25):
 *   after the kill the cache's verify() finds no corrupt row; the rerun computes exactly the rows
 *   that are missing and writes the same .npy bytes as the clean run.
 * - `ftk svm fit --grid --resume` (420 x 48 synthetic features, libsvm grid.py's grid, 5 folds): the rerun
 *   reuses every task line the killed run logged and returns the same grid table and model.
 * - `ftk finetune` (24 small images, 64 px, MobileNet 0.25 with the last blocks training): rerun
 *   with --resume when a checkpoint exists, else from scratch; the model (weights.bin) is
 *   bit-identical to the uninterrupted run's.
 * - weight download (`--weights imagenet` with FTK_WEIGHTS_BASE_URL pointing at a local server
 *   that sends the shared Keras file slowly): the killed run leaves no file under the final name
 *   (or a whole one), the rerun downloads a file with the right sha256 and removes the dead
 *   process' part file.
 *
 * Kill times are drawn from a seeded RNG, uniformly over each job's measured duration (startup
 * included: some kills land before any work, as real kills do); the diagnostics say how many
 * landed mid-work.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, stat } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, test } from 'node:test';
import sharp from 'sharp';
import { FeatureCache } from '../src/extract/cache.js';
import { Rng } from '../src/data/random.js';
import { checkpointPath } from '../src/finetune/checkpoint.js';
import { encodeNpy } from '../src/formats/npy.js';
import { catsDogsSubset, noSharedData, runFtk, SHARED_H5, sha256Of, sleep, startFtk, type FtkRun } from './helpers/cli.js';
import { tempDir } from './helpers/images.js';

const SEED = 20240611;
const { dir: tmp, cleanup } = await tempDir('ftk-kill-');
after(cleanup);

interface Tally {
  kills: number;
  midWork: number;
  finishedFirst: number;
  notes: string[];
}
const tallies = new Map<string, Tally>();
function tally(job: string): Tally {
  let t = tallies.get(job);
  if (!t) tallies.set(job, (t = { kills: 0, midWork: 0, finishedFirst: 0, notes: [] }));
  return t;
}

/** When the clean run started working (ms after spawn) and how long it took in all. */
interface Timeline {
  workStart: number;
  duration: number;
}

/**
 * Seeded kill times over a clean run's timeline: the first uniformly in the startup (before any
 * work, as a Ctrl-C right after launch), the others uniformly over the work, up to 85% of the
 * duration (a rerun can be a little faster than the clean run).
 */
function killTimes(job: string, count: number, { workStart, duration }: Timeline): number[] {
  const rng = new Rng(createHash('sha256').update(`${SEED}/${job}`).digest().readUInt32LE(0));
  const end = Math.max(workStart + 100, 0.85 * duration);
  return Array.from({ length: count }, (_, k) => Math.round(k === 0 ? workStart * rng.next() : workStart + (end - workStart) * rng.next()));
}

/** Runs the clean job to completion, polling `started` to find when its work began. */
async function timeClean(args: string[], env: NodeJS.ProcessEnv, started: () => boolean): Promise<{ run: FtkRun; timeline: Timeline }> {
  const t0 = performance.now();
  const child = startFtk(args, env);
  let ended = false;
  void child.done.then(() => (ended = true));
  let workStart: number | undefined;
  while (!ended && workStart === undefined) {
    await sleep(20);
    try {
      if (started()) workStart = performance.now() - t0;
    } catch {
      // being written: look again
    }
  }
  const run = await child.done;
  if (run.code !== 0) throw new Error(`ftk ${args.join(' ')} exited ${run.code ?? run.signal}:\n${run.stderr}`);
  return { run, timeline: { workStart: workStart ?? run.ms / 2, duration: run.ms } };
}

const rowsIn = (cacheFile: string): number => {
  if (!existsSync(cacheFile)) return 0;
  const cache = new FeatureCache(cacheFile);
  try {
    return cache.count();
  } finally {
    cache.close();
  }
};

/** Starts ftk, kills it after `ms` (unless it ended first). */
async function killAfter(args: string[], env: NodeJS.ProcessEnv, ms: number, onKill?: () => void): Promise<FtkRun & { killed: boolean }> {
  const run = startFtk(args, env);
  let ended = false;
  void run.done.then(() => (ended = true));
  await sleep(ms);
  if (!ended) {
    onKill?.();
    run.child.kill('SIGKILL');
  }
  const result = await run.done;
  return { ...result, killed: result.signal === 'SIGKILL' };
}

/**
 * Runs one kill attempt per scheduled time; an attempt whose process ended before its kill time
 * (a rerun can be faster than the clean run on a shared machine) is followed by one more attempt
 * at 60% of that time, so the number of kills does not depend on the machine's load.
 */
async function runSchedule(times: number[], attempt: (id: number, ms: number) => Promise<boolean>): Promise<void> {
  let id = 0;
  for (const ms of times) {
    if (!(await attempt(id++, ms))) await attempt(id++, Math.round(ms * 0.6));
  }
}

const withoutTimes = (meta: Record<string, unknown>) => {
  const { createdAt: _c, ...rest } = meta;
  // `device.onnxProviders` says what ran the model in this run: absent when a rerun found every row in the cache.
  if (rest.device && typeof rest.device === 'object') {
    const { onnxProviders: _p, ...device } = rest.device as Record<string, unknown>;
    rest.device = device;
  }
  return rest;
};

// ---------------------------------------------------------------------------------------------
// 1. Extraction.
test('SIGKILL during ftk bottleneck extract, then a rerun: completes, same .npy bytes as a clean run, no corrupt cache row', { skip: noSharedData, timeout: 300_000 }, async (t) => {
  const env = { FTK_HOME: path.join(tmp, 'extract-home') };
  // ONNX Runtime extracts ~300 images/s here: more images give its kills a work window of a few seconds.
  const schedule = [
    { runtime: 'onnx', N: 320, kills: 5 },
    { runtime: 'tfjs', N: 96, kills: 2 },
  ];
  const datasets = new Map<number, string>();
  for (const { N } of schedule) datasets.set(N, await catsDogsSubset(path.join(tmp, `extract-data-${N}`), N / 2));
  let data = '';
  const args = (runtime: string, cacheFile: string, out: string) => [
    'bottleneck', 'extract', data, '--model', 'mobilenet', '--alpha', '0.25', '--weights', SHARED_H5, '--runtime', runtime,
    '--batch-size', '16', '--cache-file', cacheFile, '--json', '--out', out,
  ];
  // Export the ONNX graph once, so that every timed run loads it.
  data = datasets.get(96)!;
  await runFtk([...args('onnx', path.join(tmp, 'warm.sqlite'), path.join(tmp, 'warm')), '--shard', '1/48'], env);
  const job = tally('extract');
  for (const { runtime, N, kills } of schedule) {
    data = datasets.get(N)!;
    const cleanCache = path.join(tmp, `clean-${runtime}.sqlite`);
    const { timeline } = await timeClean(args(runtime, cleanCache, path.join(tmp, `clean-${runtime}`)), env, () => rowsIn(cleanCache) > 0);
    const cleanNpy = await readFile(path.join(tmp, `clean-${runtime}.npy`));
    const cleanMeta = withoutTimes(JSON.parse(await readFile(path.join(tmp, `clean-${runtime}.json`), 'utf8')));
    job.notes.push(`${runtime} clean run: first row at ${(timeline.workStart / 1000).toFixed(1)} s of ${(timeline.duration / 1000).toFixed(1)} s;`);
    await runSchedule(killTimes(`extract-${runtime}`, kills, timeline), async (k, ms) => {
      const cacheFile = path.join(tmp, `kill-${runtime}-${k}.sqlite`);
      const out = path.join(tmp, `kill-${runtime}-${k}`);
      const killed = await killAfter(args(runtime, cacheFile, out), env, ms);
      let rows = 0;
      if (existsSync(cacheFile)) {
        const cache = new FeatureCache(cacheFile);
        try {
          const check = cache.verify();
          assert.equal(check.corrupt, 0, `${runtime} kill ${k}: corrupt cache rows`);
          rows = check.rows;
        } finally {
          cache.close();
        }
      }
      if (!killed.killed) job.finishedFirst++;
      else {
        job.kills++;
        if (rows > 0 && rows < N) job.midWork++;
      }
      job.notes.push(`${runtime}@${ms}ms:${killed.killed ? `${rows}rows` : 'done'}`);
      const rerun = await runFtk(args(runtime, cacheFile, out), env);
      const stats = JSON.parse(rerun.stdout).stats;
      assert.equal(stats.cached, rows, 'the rerun read every committed row');
      assert.equal(stats.computed, N - rows, 'and computed only the missing ones');
      assert.ok((await readFile(`${out}.npy`)).equals(cleanNpy), `${runtime} kill ${k} at ${ms} ms: features differ from the clean run`);
      assert.deepEqual(withoutTimes(JSON.parse(await readFile(`${out}.json`, 'utf8'))), cleanMeta);
      const cache = new FeatureCache(cacheFile);
      try {
        assert.deepEqual(cache.verify(), { rows: N, corrupt: 0 });
      } finally {
        cache.close();
      }
      return killed.killed;
    });
  }
  t.diagnostic(`extract: ${job.kills} kills (${job.midWork} with some but not all rows committed), ${job.finishedFirst} runs ended before their kill time; ${job.notes.join(' ')}`);
});

// ---------------------------------------------------------------------------------------------
// 2. SVM grid search with its results log.
function syntheticFeatures(prefix: string, n: number, d: number): void {
  const rng = new Rng(11);
  const labels = Array.from({ length: n }, (_, i) => i % 3);
  const X = new Float32Array(n * d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) X[i * d + j] = rng.normal() + (j % 3 === labels[i] ? 0.5 : 0);
  writeFileSync(`${prefix}.npy`, encodeNpy(X, [n, d]));
  writeFileSync(`${prefix}.json`, JSON.stringify({ formatVersion: 1, files: labels.map((_, i) => `img${i}.jpg`), labels, classes: ['a', 'b', 'c'], shape: [n, d] }));
}

function logLines(file: string): number {
  if (!existsSync(file)) return 0;
  const text = readFileSync(file, 'utf8');
  const whole = text.slice(0, text.lastIndexOf('\n') + 1).split('\n').filter(Boolean);
  whole.forEach((line) => JSON.parse(line));
  return Math.max(0, whole.length - 1);
}

test('SIGKILL during ftk svm fit --grid, then the same command with --resume: the same grid table and model as an uninterrupted run', { timeout: 300_000 }, async (t) => {
  const feats = path.join(tmp, 'svm-feats');
  syntheticFeatures(feats, 420, 48);
  const env = { FTK_HOME: path.join(tmp, 'svm-home') };
  const args = (dir: string) => ['svm', 'fit', feats, '--grid', '--resume', '--workers', '2', '--json', '--out', path.join(dir, 'model.json')];
  const { run: clean, timeline } = await timeClean(args(path.join(tmp, 'svm-clean')), env, () => logLines(path.join(tmp, 'svm-clean', 'model.json.grid.jsonl')) > 0);
  const cleanResult = JSON.parse(clean.stdout);
  const tasks = 5 * 10;
  assert.equal(logLines(path.join(tmp, 'svm-clean', 'model.json.grid.jsonl')), tasks);
  const cleanModel = JSON.parse(await readFile(path.join(tmp, 'svm-clean', 'model.json'), 'utf8'));
  const job = tally('svm grid');
  await runSchedule(killTimes('svm', 6, timeline), async (k, ms) => {
    const dir = path.join(tmp, `svm-kill-${k}`);
    const killed = await killAfter(args(dir), env, ms);
    const logged = logLines(path.join(dir, 'model.json.grid.jsonl'));
    if (!killed.killed) job.finishedFirst++;
    else {
      job.kills++;
      if (logged > 0 && logged < tasks) job.midWork++;
    }
    job.notes.push(`@${ms}ms:${killed.killed ? `${logged}/${tasks}tasks` : 'done'}`);
    const rerun = await runFtk(args(dir), env);
    const result = JSON.parse(rerun.stdout);
    if (killed.killed) assert.equal(result.grid.resumedTasks, logged, 'every logged task was reused');
    assert.deepEqual(result.grid.table, cleanResult.grid.table, `kill ${k} at ${ms} ms: grid table differs`);
    assert.deepEqual(result.grid.best, cleanResult.grid.best);
    const model = JSON.parse(await readFile(path.join(dir, 'model.json'), 'utf8'));
    assert.deepEqual({ ...model, training: { ...model.training, createdAt: 0 } }, { ...cleanModel, training: { ...cleanModel.training, createdAt: 0 } });
    return killed.killed;
  });
  t.diagnostic(`svm grid: ${job.kills} kills (${job.midWork} with some but not all of the ${tasks} (fold, gamma) tasks logged), ${job.finishedFirst} runs ended before their kill time; clean run: first task at ${(timeline.workStart / 1000).toFixed(1)} s of ${(timeline.duration / 1000).toFixed(1)} s; ${job.notes.join(' ')}`);
});

// ---------------------------------------------------------------------------------------------
// 3. Fine-tuning with checkpoints.
async function colourDataset(root: string): Promise<string> {
  let s = 5;
  const rnd = () => (s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 4294967296;
  for (const [c, base] of [['a', [200, 60, 50]], ['b', [50, 70, 200]]] as const) {
    await mkdir(path.join(root, c), { recursive: true });
    for (let i = 0; i < 12; i++) {
      const px = Buffer.alloc(40 * 40 * 3);
      for (let p = 0; p < 1600; p++) for (let k = 0; k < 3; k++) px[p * 3 + k] = Math.max(0, Math.min(255, base[k] + (rnd() - 0.5) * 180));
      await sharp(px, { raw: { width: 40, height: 40, channels: 3 } }).png().toFile(path.join(root, c, `${i}.png`));
    }
  }
  return root;
}

test('SIGKILL during ftk finetune, then --resume (or a fresh start before the first checkpoint): a bit-identical model', { skip: noSharedData, timeout: 300_000 }, async (t) => {
  const data = await colourDataset(path.join(tmp, 'ft-data'));
  const env = { FTK_HOME: path.join(tmp, 'ft-home') };
  const args = (dir: string) => [
    'finetune', data, '--out', dir, '--model', 'mobilenet', '--alpha', '0.25', '--weights', SHARED_H5, '--input-size', '64', '--freeze', '7',
    '--head-epochs', '2', '--epochs', '10', '--patience', '20', '--batch', '4', '--views', '2', '--backend', 'wasm', '--runtime', 'onnx',
    // One training thread: the kill times are drawn from the clean run's timeline, which worker
    // start-up makes noisier (kill and resume on worker threads: test/finetune_parallel.test.ts).
    '--workers', '1',
    '--cache-file', path.join(dir, '..', `${path.basename(dir)}.sqlite`), '--json',
  ];
  // Export the frozen part's ONNX graph once (one short run).
  await runFtk([...args(path.join(tmp, 'ft-warm')), '--head-epochs', '1', '--epochs', '1'], env);
  const cleanDir = path.join(tmp, 'ft-clean');
  // Work starts with the frozen layers' pass, whose rows go to the run's feature cache.
  const { timeline } = await timeClean(args(cleanDir), env, () => rowsIn(path.join(tmp, 'ft-clean.sqlite')) > 0);
  const cleanWeights = await readFile(path.join(cleanDir, 'weights.bin'));
  const cleanTopology = await readFile(path.join(cleanDir, 'model.json'));
  const cleanMeta = JSON.parse(await readFile(path.join(cleanDir, 'ftk.json'), 'utf8'));
  const job = tally('finetune');
  await runSchedule(killTimes('finetune', 5, timeline), async (k, ms) => {
    const dir = path.join(tmp, `ft-kill-${k}`);
    const killed = await killAfter(args(dir), env, ms);
    const checkpoint = existsSync(checkpointPath(dir));
    const finished = existsSync(path.join(dir, 'ftk.json')) && !checkpoint;
    if (!killed.killed) job.finishedFirst++;
    else {
      job.kills++;
      if (checkpoint) job.midWork++;
    }
    job.notes.push(`@${ms}ms:${!killed.killed ? 'done' : checkpoint ? 'checkpoint' : finished ? 'model written' : 'no checkpoint'}`);
    if (!finished) {
      const rerun = await runFtk(checkpoint ? [...args(dir), '--resume'] : [...args(dir), '--overwrite'], env);
      if (checkpoint) assert.match(JSON.parse(rerun.stdout).stats.resumedFrom, /epoch \d+|the end/);
    }
    assert.ok((await readFile(path.join(dir, 'weights.bin'))).equals(cleanWeights), `kill ${k} at ${ms} ms: weights differ from the uninterrupted run`);
    assert.ok((await readFile(path.join(dir, 'model.json'))).equals(cleanTopology));
    const meta = JSON.parse(await readFile(path.join(dir, 'ftk.json'), 'utf8'));
    const losses = (m: { history: { valLoss?: number; loss: number }[] }) => m.history.map((h) => [h.loss, h.valLoss]);
    assert.deepEqual(losses(meta), losses(cleanMeta), 'the same losses, epoch by epoch');
    assert.ok(!existsSync(checkpointPath(dir)), 'no checkpoint left after the model is written');
    return killed.killed;
  });
  t.diagnostic(`finetune: ${job.kills} kills (${job.midWork} after a checkpoint, resumed), ${job.finishedFirst} runs ended before their kill time; clean run: first frozen-layer row at ${(timeline.workStart / 1000).toFixed(1)} s of ${(timeline.duration / 1000).toFixed(1)} s; ${job.notes.join(' ')}`);
});

// ---------------------------------------------------------------------------------------------
// 4. Weight download.
test('SIGKILL during a weight download, then a rerun: a complete file with the right sha256, never a partial one under the final name', { skip: noSharedData, timeout: 300_000 }, async (t) => {
  const body = await readFile(SHARED_H5);
  const sha = createHash('sha256').update(body).digest('hex');
  const FILE = 'mobilenet_2_5_224_tf_no_top.h5';
  let slow = true;
  const server = http.createServer((req, res) => {
    if (req.url !== `/keras/mobilenet/${FILE}`) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(body.length) });
    let offset = 0;
    const step = 64 * 1024;
    const send = (): void => {
      if (res.destroyed) return;
      if (offset >= body.length) {
        res.end();
        return;
      }
      res.write(body.subarray(offset, offset + step));
      offset += step;
      if (slow) setTimeout(send, 70);
      else setImmediate(send);
    };
    send();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  }));
  const { port } = server.address() as AddressInfo;
  // The extraction job's home: its ONNX graph of this backbone (same weights bytes, same fingerprint) is reused.
  const home = path.join(tmp, 'extract-home');
  const env = { FTK_HOME: home, FTK_WEIGHTS_BASE_URL: `http://127.0.0.1:${port}/keras/` };
  const weightsDir = path.join(home, 'weights');
  const data = await catsDogsSubset(path.join(tmp, 'dl-data'), 1);
  const args = (out: string) => ['bottleneck', 'extract', data, '--model', 'mobilenet', '--alpha', '0.25', '--weights', 'imagenet', '--runtime', 'onnx', '--no-cache', '--json', '--out', out];
  const partStarted = () => existsSync(weightsDir) && readdirSync(weightsDir).some((n) => n.startsWith(`${FILE}.part-`));
  const { timeline } = await timeClean(args(path.join(tmp, 'dl-clean')), env, partStarted);
  assert.equal(await sha256Of(path.join(weightsDir, FILE)), sha);
  const cleanNpy = await readFile(path.join(tmp, 'dl-clean.npy'));
  const job = tally('download');
  await runSchedule(killTimes('download', 4, timeline), async (k, ms) => {
    await rm(path.join(weightsDir, FILE), { force: true });
    slow = true;
    const out = path.join(tmp, `dl-kill-${k}`);
    const killed = await killAfter(args(out), env, ms);
    const names = await readdir(weightsDir);
    const parts = names.filter((n) => n.startsWith(`${FILE}.part-`));
    // Under the final name: nothing, or the whole verified file (the kill came after the rename).
    if (names.includes(FILE)) assert.equal(await sha256Of(path.join(weightsDir, FILE)), sha, `kill ${k}: a file under the final name is whole`);
    const partBytes = parts.length ? (await stat(path.join(weightsDir, parts[0]))).size : 0;
    if (!killed.killed) job.finishedFirst++;
    else {
      job.kills++;
      if (parts.length > 0 && partBytes < body.length) job.midWork++;
    }
    job.notes.push(`@${ms}ms:${!killed.killed ? 'done' : names.includes(FILE) ? 'file in place' : parts.length ? `part ${partBytes}B` : 'before download'}`);
    slow = false;
    const rerun = await runFtk(args(out), env);
    assert.equal(await sha256Of(path.join(weightsDir, FILE)), sha, `kill ${k} at ${ms} ms: rerun's file has the wrong sha256`);
    assert.equal(JSON.parse(rerun.stdout).model.weightsSha256, sha, 'the features record the downloaded file\'s sha256');
    assert.ok((await readFile(`${out}.npy`)).equals(cleanNpy));
    const left = (await readdir(weightsDir)).filter((n) => n.startsWith(`${FILE}.part-`));
    assert.deepEqual(left, [], "the killed process' part file was removed by the rerun");
    return killed.killed;
  });
  t.diagnostic(`download: ${job.kills} kills (${job.midWork} mid-download, a part file on disk), ${job.finishedFirst} runs ended before their kill time; clean run: download from ${(timeline.workStart / 1000).toFixed(1)} s, end at ${(timeline.duration / 1000).toFixed(1)} s (${(body.length / 1e6).toFixed(1)} MB at ~0.9 MB/s); ${job.notes.join(' ')}`);
});

test('at least 20 kills over the four jobs', { skip: noSharedData }, (t) => {
  const total = [...tallies.values()].reduce((a, j) => a + j.kills, 0);
  const mid = [...tallies.values()].reduce((a, j) => a + j.midWork, 0);
  t.diagnostic(`kills per job: ${[...tallies.entries()].map(([job, j]) => `${job} ${j.kills} (${j.midWork} mid-work)`).join(', ')}; total ${total} kills, ${mid} mid-work`);
  assert.ok(total >= 20, `${total} kills`);
  for (const [job, j] of tallies) assert.ok(j.midWork >= 1, `${job}: at least one kill landed mid-work`);
});

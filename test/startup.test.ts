/**
 * Start-up stays light: the modules `ftk` loads before a command's action runs (src/cli/main.ts and
 * its static imports) must not reach TF.js, ONNX Runtime, sharp, SQLite, HDF5, libsvm or protobuf;
 * commands import those inside their actions. Measured (bench/startup/run.ts): importing TF.js
 * alone costs ~0.7 s, which `ftk --help` used to pay. The check reads the static import graph
 * (esbuild's metafile), so it names the chain of files that pulls a heavy package in.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { after, test } from 'node:test';
import { build, type Metafile } from 'esbuild';
import { writeSyntheticFeatures } from './helpers/features.js';
import { tempDir } from './helpers/images.js';

const { dir: tmp, cleanup } = await tempDir('ftk-startup-');
after(cleanup);

const HEAVY = ['@tensorflow/', 'onnxruntime-node', 'onnxruntime-web', 'sharp', 'better-sqlite3', 'h5wasm', 'libsvm-js', 'protobufjs', 'webgpu'];
const isHeavy = (spec: string) => HEAVY.some((h) => spec === h || spec.startsWith(h.endsWith('/') ? h : `${h}/`) || spec === h.replace(/\/$/, ''));

async function staticGraph(entry: string): Promise<Metafile> {
  const r = await build({ entryPoints: [entry], bundle: true, platform: 'node', format: 'esm', packages: 'external', metafile: true, write: false, logLevel: 'silent' });
  return r.metafile;
}

/** Chains `entry <- ... <- file` for each file that statically imports a heavy package. */
function heavyChains(meta: Metafile, entry: string): string[] {
  const prev = new Map<string, string | null>([[entry, null]]);
  const queue = [entry];
  const found: string[] = [];
  while (queue.length) {
    const file = queue.shift()!;
    for (const imp of meta.inputs[file]?.imports ?? []) {
      if (imp.kind !== 'import-statement') continue; // dynamic import() inside an action is the point
      if (imp.external) {
        if (isHeavy(imp.path)) {
          const chain = [imp.path, file];
          for (let f = prev.get(file); f; f = prev.get(f)) chain.push(f);
          found.push(chain.join(' <- '));
        }
      } else if (!prev.has(imp.path)) {
        prev.set(imp.path, file);
        queue.push(imp.path);
      }
    }
  }
  return found;
}

test('the CLI loads no heavy package before a command runs (static imports of src/cli/main.ts)', async () => {
  const entry = 'src/cli/main.ts';
  const chains = heavyChains(await staticGraph(entry), entry);
  assert.deepEqual(chains, [], `heavy packages reached at start-up:\n${chains.join('\n')}`);
});

test('the check finds a heavy package when one is imported statically (the library entry does)', async () => {
  const entry = 'src/index.ts';
  const chains = heavyChains(await staticGraph(entry), entry);
  for (const pkg of ['@tensorflow/tfjs', 'sharp', 'better-sqlite3']) {
    assert.ok(chains.some((c) => c.startsWith(`${pkg} <- `)), `${pkg} is statically reachable from src/index.ts; chains found:\n${chains.slice(0, 5).join('\n')}`);
  }
});

const FORBID_HOOK = path.resolve('test/helpers/forbid_modules.mjs');
const ALL_HEAVY = '@tensorflow/,onnxruntime-node,sharp,better-sqlite3,h5wasm,protobufjs';

/** Runs bin/ftk.js (through tsx) with the packages in `forbid` made unloadable. */
function ftkWithout(forbid: string, args: string[]) {
  return spawnSync(process.execPath, ['--import', FORBID_HOOK, path.resolve('bin/ftk.js'), ...args], {
    env: { ...process.env, FTK_DEV: '1', FTK_FORBID: forbid, FTK_HOME: path.join(tmp, 'home') },
    encoding: 'utf8',
    timeout: 120_000,
  });
}

test('the forbidding hook works: a command that needs TF.js fails under it', () => {
  const r = ftkWithout(ALL_HEAVY, ['info', '--backend', 'cpu', '--json']);
  assert.notEqual(r.status, 0, 'ftk info --backend cpu loads TF.js, so it must fail when TF.js is forbidden');
  assert.match(r.stderr, /FORBIDDEN_AT_STARTUP: @tensorflow\/tfjs/);
});

for (const args of [['--help'], ['--version'], ['info', '--json'], ['svm', '--help'], ['bottleneck', 'extract', '--help'], ['finetune', '--help'], ['auto', '--help'], ['bench', '--help'], ['predict', '--help'], ['report', '--help']]) {
  test(`ftk ${args.join(' ')} runs without loading TF.js, ONNX Runtime, sharp, SQLite, HDF5 or protobuf`, () => {
    const r = ftkWithout(ALL_HEAVY, args);
    assert.equal(r.status, 0, `exit ${r.status}: ${r.stderr.slice(-1500)}`);
    assert.ok(r.stdout.length > 0);
  });
}

test('ftk report renders a run without loading TF.js, ONNX Runtime or sharp (its images are absent)', () => {
  const r = ftkWithout(ALL_HEAVY, ['report', path.resolve('test/fixtures/report/svm_only.json'), '--out', path.join(tmp, 'report'), '--json']);
  assert.equal(r.status, 0, r.stderr.slice(-1500));
  assert.ok(JSON.parse(r.stdout).html.endsWith('report.html'));
});

test('ftk svm cv on a features file runs without loading TF.js, ONNX Runtime, sharp, HDF5 or protobuf', async () => {
  const n = 60;
  const d = 4;
  const labels = Array.from({ length: n }, (_, i) => i % 2);
  const X = Float32Array.from({ length: n * d }, (_, k) => (k % d === labels[Math.floor(k / d)] ? 2 : 0) + ((k * 7919) % 13) / 13);
  const prefix = path.join(tmp, 'feat');
  await writeSyntheticFeatures(prefix, X, labels, ['c0', 'c1'], tmp);
  const r = ftkWithout('@tensorflow/,onnxruntime-node,sharp,h5wasm,protobufjs', ['svm', 'cv', prefix, '--json']);
  assert.equal(r.status, 0, r.stderr.slice(-1500));
  assert.ok(JSON.parse(r.stdout).meanAccuracy > 0.9);
});

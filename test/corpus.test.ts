/**
 * The bad-input corpus (test/corpus/): every kind's outcome computed through the paths a user
 * hits (findDataset on folders and CSV, decodeImage, extractFeatures with the shared Keras
 * MobileNet 0.25 weights, `ftk bottleneck extract --json`, `ftk predict` with a saved SVM,
 * weight loading, `svm fit` on feature files, `svm predict` on saved models) and compared with
 * the outcome documented in `CORPUS_KINDS` (and in test/corpus/README.md, rendered from it).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { svmFit, svmPredict } from '../src/classify/commands.js';
import { findDataset, type Dataset } from '../src/data/dataset.js';
import { decodeImage, ImageDecodeError } from '../src/data/decode.js';
import { FtkError } from '../src/errors.js';
import { extractFeatures, type ExtractResult } from '../src/extract/extract.js';
import { writeFeatures } from '../src/extract/features_file.js';
import { selectBackend } from '../src/runtime/backend.js';
import {
  CORPUS_KINDS,
  describeOutcome,
  generateCorpus,
  README_END,
  README_START,
  renderCorpusTable,
  STAGE_TESTS,
  withRenderedTable,
  type CorpusDecoder,
  type CorpusKind,
  type GeneratedCorpus,
  type Outcome,
} from './corpus/generate.js';

const H5 = path.resolve('../shared/models/mobilenet_2_5_224_tf_no_top.h5');
const haveShared = existsSync(H5);
/** The backbone of the end-to-end runs: the real Keras weights when present, else random weights at a small size. */
const BACKBONE = haveShared
  ? { model: 'mobilenet', alpha: 0.25, weights: H5 }
  : { model: 'mobilenet', alpha: 0.25, weights: 'random', inputSize: 64 };
const BACKBONE_FLAGS = haveShared
  ? ['--model', 'mobilenet', '--alpha', '0.25', '--weights', H5]
  : ['--model', 'mobilenet', '--alpha', '0.25', '--weights', 'random', '--input-size', '64'];

// Any unhandled rejection (a promise nobody awaited) fails the run.
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);
process.on('unhandledRejection', onUnhandled);

await selectBackend({ backend: 'wasm' });
const tmp = await mkdtemp(path.join(os.tmpdir(), 'ftk-corpus-'));
const savedHome = process.env.FTK_HOME;
process.env.FTK_HOME = path.join(tmp, 'home'); // feature cache and exported ONNX graphs stay in the temp dir
let corpus: GeneratedCorpus;
const generation = performance.now();
corpus = await generateCorpus(path.join(tmp, 'corpus'), { sharedWeights: haveShared ? H5 : undefined });
const generationSeconds = (performance.now() - generation) / 1000;

after(async () => {
  process.off('unhandledRejection', onUnhandled);
  if (savedHome === undefined) delete process.env.FTK_HOME;
  else process.env.FTK_HOME = savedHome;
  await rm(tmp, { recursive: true, force: true });
  assert.deepEqual(unhandled, [], 'no unhandled rejections');
});

const abs = (rel: string) => path.join(corpus.root, ...rel.split('/'));
const kindsOf = (stage: CorpusKind['stage']) => CORPUS_KINDS.filter((k) => k.stage === stage);
/** Kinds of the folder dataset checked with the default findDataset options, on this machine. */
const plainFolderKinds = () => kindsOf('folder').filter((k) => !k.followSymlinks && !corpus.unavailable(k));

type Computed = Outcome | { status: 'wrong'; detail: string };

function show(o: Computed): string {
  return o.status === 'wrong' ? `WRONG: ${o.detail}` : describeOutcome(o);
}

/** Compares a computed outcome with the documented one, or skips the kind with the reason. */
function expectOutcome(t: { skip: (why: string) => void }, kind: CorpusKind, computed: Computed): void {
  const why = corpus.unavailable(kind);
  if (why) return t.skip(why);
  assert.deepEqual(computed, kind.outcome, `${kind.id}: documented "${describeOutcome(kind.outcome)}", got "${show(computed)}"`);
}

const decoder: CorpusDecoder = (file, size, crop) => decodeImage(abs(file), { size, crop }, file);

/**
 * Working kinds whose `check` is verified by this test rather than by their `verify`: dataset
 * checks, the label typo, the duplicate-group test, the float64 fit; a JPEG whose check is that
 * it decodes.
 */
const CHECKED_HERE = new Set(['nested', 'folder-named-jpg', 'one-image-class', 'duplicates', 'csv-typo-label', 'features-float64', 'corrupt-data-jpeg']);

/** The outcome of a working file: the documented one once `verify` (and the test's own check, `extra`) found nothing wrong. */
async function worked(kind: CorpusKind, extra?: string): Promise<Computed> {
  const problem = extra ?? (kind.verify ? await kind.verify(decoder) : undefined);
  if (problem) return { status: 'wrong', detail: problem };
  return kind.outcome.status === 'works' ? kind.outcome : { status: 'works' };
}

/** A problem when the files of one kind do not all give the same outcome. */
function agree(perFile: Computed[]): Computed | undefined {
  const distinct = [...new Set(perFile.map((o) => JSON.stringify(o)))];
  if (distinct.length > 1) return { status: 'wrong', detail: `its files disagree: ${distinct.join(' / ')}` };
  return undefined;
}

/** How an FtkError thrown for `files` measures up: code, file named, fix given. */
function errorOutcome(err: unknown, files: string[]): Computed {
  if (!(err instanceof FtkError)) return { status: 'wrong', detail: `not an FtkError: ${String(err)}` };
  const named = files.some((f) => err.message.includes(f) || err.message.includes(path.basename(f.replace(/\/$/, ''))));
  if (!named) return { status: 'wrong', detail: `message does not name ${files.join(', ')}: ${err.message}` };
  if (!err.suggestion || err.suggestion.length < 10) return { status: 'wrong', detail: `no suggestion: ${err.message}` };
  return { status: 'error', code: err.code };
}

// ---------------------------------------------------------------------------------------------
describe('corpus table', () => {
  test('every kind has a unique id, a stage with tests, files and a how; at least 20 kinds', () => {
    const ids = CORPUS_KINDS.map((k) => k.id);
    assert.equal(new Set(ids).size, ids.length, 'unique ids');
    assert.ok(CORPUS_KINDS.length >= 20, `${CORPUS_KINDS.length} kinds`);
    for (const k of CORPUS_KINDS) {
      assert.ok(STAGE_TESTS[k.stage], `${k.id}: stage ${k.stage}`);
      assert.ok(k.files.length > 0 && k.how.length > 0, k.id);
      if (k.outcome.status === 'works' && k.outcome.check) assert.ok(k.verify || CHECKED_HERE.has(k.id), `${k.id}: "${k.outcome.check}" is verified somewhere`);
      if (k.verify) assert.ok(k.outcome.status === 'works' && k.outcome.check, `${k.id}: a verified kind says what is checked`);
    }
  });

  test('test/corpus/README.md holds the table rendered from CORPUS_KINDS', async () => {
    const readme = await readFile(new URL('./corpus/README.md', import.meta.url), 'utf8');
    assert.ok(readme.includes(README_START) && readme.includes(README_END), 'table markers');
    assert.equal(readme, withRenderedTable(readme), 'README table is stale: run `npx tsx test/corpus/generate.ts --write-readme`');
    assert.ok(readme.includes(renderCorpusTable()));
  });
});

// ---------------------------------------------------------------------------------------------
describe('folder kinds (findDataset + decodeImage on images/)', () => {
  let plain: Dataset;
  let followed: Dataset;
  const decoded = new Map<string, string | undefined>(); // file -> reason (undefined = decoded)
  before(async () => {
    plain = await findDataset(abs('images'));
    followed = await findDataset(abs('images'), { followSymlinks: true });
    await Promise.all(
      plain.entries.map(async (e) => {
        try {
          await decodeImage(e.path, { size: 8 }, e.file);
          decoded.set(e.file, undefined);
        } catch (err) {
          decoded.set(e.file, err instanceof ImageDecodeError ? err.reason : `not an ImageDecodeError: ${String(err)}`);
        }
      }),
    );
  });

  /** Extra checks of working kinds that are about the dataset rather than the pixels. */
  const datasetChecks: Record<string, (ds: Dataset) => string | undefined> = {
    nested: (ds) => (ds.entries.find((e) => e.file === 'cats/2019/summer/beach.png')?.className === 'cats' ? undefined : 'not labelled cats'),
    'folder-named-jpg': (ds) => (ds.entries.some((e) => e.file === 'cats/album.jpg') ? 'the folder itself became an entry' : undefined),
    'one-image-class': (ds) => {
      const n = ds.entries.filter((e) => e.className === 'solo').length;
      return ds.classes.includes('solo') && n === 1 ? undefined : `class solo has ${n} entries`;
    },
  };

  for (const kind of kindsOf('folder')) {
    test(`${kind.id}: ${describeOutcome(kind.outcome)}`, async (t) => {
      const ds = kind.followSymlinks ? followed : plain;
      const perFile: Computed[] = [];
      for (const file of kind.files) {
        const rel = file.slice('images/'.length);
        const ignored = ds.ignored.find((s) => s.file === rel);
        if (ignored) perFile.push({ status: 'ignored', reason: ignored.reason });
        else if (!ds.entries.some((e) => e.file === rel)) perFile.push({ status: 'wrong', detail: `${rel} is neither an entry nor ignored` });
        else if (ds !== plain) perFile.push({ status: 'wrong', detail: `${rel} is an entry` });
        else {
          const reason = decoded.get(rel);
          perFile.push(reason === undefined ? { status: 'works' } : { status: 'skipped', reason });
        }
      }
      let computed = agree(perFile) ?? perFile[0];
      if (computed.status === 'works') computed = await worked(kind, datasetChecks[kind.id]?.(ds));
      expectOutcome(t, kind, computed);
    });
  }
});

// ---------------------------------------------------------------------------------------------
describe('manifest kinds (findDataset on manifest.csv + decodeImage)', () => {
  for (const kind of kindsOf('manifest')) {
    test(`${kind.id}: ${describeOutcome(kind.outcome)}`, async (t) => {
      const ds = await findDataset(abs('manifest.csv'), kind.manifestClasses ? { classes: kind.manifestClasses } : {});
      const file = kind.files[0];
      const ignored = ds.ignored.find((s) => s.file === file && s.reason.startsWith(`row ${kind.row}:`));
      const entry = ds.entries.find((e) => e.file === file);
      let computed: Computed;
      if (ignored) computed = { status: 'ignored', reason: ignored.reason };
      else if (!entry) computed = { status: 'wrong', detail: `row ${kind.row} (${file}) is neither an entry nor ignored` };
      else {
        try {
          await decodeImage(entry.path, { size: 8 }, entry.file);
          const typo = kind.id === 'csv-typo-label' && entry.className !== 'dgos' ? `labelled ${entry.className}` : undefined;
          computed = await worked(kind, typo);
        } catch (err) {
          computed = err instanceof ImageDecodeError ? { status: 'skipped', reason: err.reason } : { status: 'wrong', detail: String(err) };
        }
      }
      expectOutcome(t, kind, computed);
    });
  }
});

// ---------------------------------------------------------------------------------------------
describe('dataset kinds (findDataset)', () => {
  for (const kind of kindsOf('dataset')) {
    test(`${kind.id}: ${describeOutcome(kind.outcome)}`, async (t) => {
      const source = kind.files[0].split('/')[0];
      let computed: Computed;
      try {
        const ds = await findDataset(abs(source));
        computed = { status: 'wrong', detail: `listed ${ds.entries.length} images without error` };
      } catch (err) {
        computed = errorOutcome(err, kind.files.map((f) => path.join(corpus.root, ...f.split('/').filter(Boolean))));
      }
      expectOutcome(t, kind, computed);
    });
  }
});

// ---------------------------------------------------------------------------------------------
describe('weights kinds (extractFeatures on tiny/ with --weights)', () => {
  for (const kind of kindsOf('weights')) {
    test(`${kind.id}: ${describeOutcome(kind.outcome)}`, { timeout: 60_000 }, async (t) => {
      if (corpus.unavailable(kind)) return t.skip(corpus.unavailable(kind));
      const w = kind.weights!;
      const file = corpus.weightsPath(w.weights);
      let computed: Computed;
      try {
        await extractFeatures(abs('tiny'), { model: w.model, alpha: w.alpha, weights: file, inputSize: 32, cache: false, decodeWorkers: 0, backend: 'wasm' });
        computed = await worked(kind);
      } catch (err) {
        computed = errorOutcome(err, [file]);
      }
      expectOutcome(t, kind, computed);
    });
  }
});

// ---------------------------------------------------------------------------------------------
describe('features kinds (svmFit on <prefix>.npy + .json)', () => {
  for (const kind of kindsOf('features')) {
    test(`${kind.id}: ${describeOutcome(kind.outcome)}`, async (t) => {
      const prefix = abs(kind.files[0]).replace(/\.(npy|json)$/, '');
      let computed: Computed;
      try {
        const r = await svmFit(prefix, { kernel: 'linear' });
        const fitted = r.nSamples === 20 && r.nFeatures === 4 ? undefined : `fitted on ${r.nSamples} x ${r.nFeatures}`;
        r.model.dispose();
        computed = await worked(kind, fitted);
      } catch (err) {
        computed = errorOutcome(err, [abs(kind.files[0])]);
      }
      expectOutcome(t, kind, computed);
    });
  }
});

// ---------------------------------------------------------------------------------------------
describe('svm-model kinds (svmPredict on svm/features)', () => {
  for (const kind of kindsOf('svm-model')) {
    test(`${kind.id}: ${describeOutcome(kind.outcome)}`, async (t) => {
      const model = abs(kind.files[0]);
      let computed: Computed;
      try {
        const r = await svmPredict(model, abs('svm/features'));
        computed = await worked(kind, r.predictions.length === 20 && r.accuracy === 1 ? undefined : `accuracy ${r.accuracy} on ${r.predictions.length} rows`);
      } catch (err) {
        computed = errorOutcome(err, [model]);
      }
      expectOutcome(t, kind, computed);
    });
  }
});

// ---------------------------------------------------------------------------------------------
describe('end to end', () => {
  let folder: ExtractResult;
  const onSkip: string[] = [];
  const notices: string[] = [];

  /** Checks a run's metadata against the documented outcome of every folder kind. */
  function checkRun(meta: ExtractResult['meta'], fileOf: (rel: string) => string, kinds: CorpusKind[]): string[] {
    const problems: string[] = [];
    for (const kind of kinds) {
      for (const file of kind.files) {
        const rel = fileOf(file);
        const o = kind.outcome;
        const skipped = meta.skipped.find((s) => s.file === rel);
        if (o.status === 'works' && !meta.files.includes(rel)) problems.push(`${kind.id}: ${rel} has no features${skipped ? ` (skipped: ${skipped.reason})` : ''}`);
        if ((o.status === 'skipped' || o.status === 'ignored') && skipped?.reason !== o.reason) {
          problems.push(`${kind.id}: ${rel} listed as ${JSON.stringify(skipped?.reason)}, documented "${o.reason}"`);
        }
      }
    }
    return problems;
  }

  before(async () => {
    folder = await extractFeatures(abs('images'), { ...BACKBONE, onSkip: (s) => onSkip.push(s.file), onNotice: (m) => notices.push(m) });
  });

  test('extractFeatures (folder): a row for every working file, every other listed with its documented reason', (t) => {
    const kinds = plainFolderKinds();
    assert.deepEqual(checkRun(folder.meta, (f) => f.slice('images/'.length), kinds), []);
    assert.ok(folder.features.every(Number.isFinite), 'finite features');
    const listed = kinds.filter((k) => k.outcome.status === 'skipped' || k.outcome.status === 'ignored').flatMap((k) => k.files.map((f) => f.slice('images/'.length)));
    assert.deepEqual([...onSkip].sort(), [...listed].sort(), 'onSkip called once per file skipped at decode or ignored by the listing');
    t.diagnostic(`${folder.meta.files.length} rows, ${folder.meta.skipped.length} listed as skipped, ${folder.stats.seconds.toFixed(1)} s on ${folder.stats.engine}; corpus generated in ${generationSeconds.toFixed(1)} s`);
  });

  test('duplicate group: identical files across classes are reported', () => {
    assert.ok(folder.meta.duplicates.some((g) => g.length === 2 && g[0] === 'cats/twin.png' && g[1] === 'dogs/twin-copy.png'), JSON.stringify(folder.meta.duplicates));
    assert.ok(notices.some((m) => /identical files/.test(m)), notices.join('\n'));
  });

  test('EXIF features: the 8 orientations give the features of one upright image', (t) => {
    const [, d] = folder.meta.shape;
    const row = (file: string) => {
      const r = folder.meta.files.indexOf(file);
      assert.ok(r >= 0, file);
      return folder.features.subarray(r * d, (r + 1) * d);
    };
    const distance = (a: Float32Array, b: Float32Array) => Math.hypot(...Array.from(a, (v, i) => v - b[i]));
    const upright = row('dogs/exif-1.jpg');
    const worst = Math.max(...[2, 3, 4, 5, 6, 7, 8].map((n) => distance(row(`dogs/exif-${n}.jpg`), upright)));
    const other = distance(row('cats/plain.jpg'), upright);
    t.diagnostic(`largest distance of orientations 2-8 to orientation 1: ${worst.toExponential(2)}; an unrelated image: ${other.toExponential(2)}`);
    assert.ok(worst < other / 20, `orientations agree (${worst}) far better than an unrelated image (${other})`);
  });

  test('extractFeatures (manifest): rows of the CSV, missing and folder rows listed, broken file skipped', async (t) => {
    const r = await extractFeatures(abs('manifest.csv'), BACKBONE);
    const byRow = kindsOf('manifest').filter((k) => !k.manifestClasses && !corpus.unavailable(k));
    const problems: string[] = [];
    for (const kind of byRow) {
      const file = kind.files[0];
      const o = kind.outcome;
      const listed = r.meta.skipped.find((s) => s.file === file && (o.status !== 'ignored' || s.reason.startsWith(`row ${kind.row}:`)));
      if (o.status === 'works' && !r.meta.files.includes(file)) problems.push(`${kind.id}: ${file} has no features`);
      if (o.status !== 'works' && listed?.reason !== (o as { reason: string }).reason) problems.push(`${kind.id}: listed as ${JSON.stringify(listed?.reason)}`);
    }
    assert.deepEqual(problems, []);
    assert.ok(r.meta.classes.includes('dgos'), 'a label typo is a class of its own without the classes option');
    t.diagnostic(`manifest run: ${r.stats.cached} of ${r.meta.files.length} rows from the cache`);
  });

  test('CLI extract --json: exit 0, the JSON lists every skipped file with its reason, stderr names each', { timeout: 120_000 }, () => {
    const env = { ...process.env, FTK_DEV: '1' };
    const r = spawnSync(process.execPath, [path.resolve('bin/ftk.js'), 'bottleneck', 'extract', abs('images'), ...BACKBONE_FLAGS, '--json', '--out', path.join(tmp, 'cli', 'feats')], {
      env,
      encoding: 'utf8',
      timeout: 110_000,
    });
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { skipped: { file: string; reason: string }[]; shape: [number, number] };
    assert.deepEqual(checkRun({ ...folder.meta, skipped: out.skipped, files: folder.meta.files }, (f) => f.slice('images/'.length), plainFolderKinds()), []);
    assert.deepEqual(out.skipped, folder.meta.skipped, 'the same list as the library run');
    assert.deepEqual(out.shape, folder.meta.shape);
    const missing = out.skipped.filter((s) => !r.stderr.includes(`skipped ${s.file}: ${s.reason}`)).map((s) => s.file);
    assert.deepEqual(missing, [], `stderr names every skipped file:\n${r.stderr}`);
  });

  test('CLI bad --weights: a weight file of another architecture exits 1 with the file and the fix on stderr', { timeout: 120_000 }, () => {
    const file = abs('models/vgg-style.h5');
    const r = spawnSync(process.execPath, [path.resolve('bin/ftk.js'), 'bottleneck', 'extract', abs('tiny'), '--model', 'mobilenet', '--alpha', '0.25', '--weights', file, '--input-size', '32', '--no-cache', '--out', path.join(tmp, 'cli', 'bad')], {
      env: { ...process.env, FTK_DEV: '1' },
      encoding: 'utf8',
      timeout: 110_000,
    });
    assert.equal(r.status, 1, r.stderr);
    assert.ok(r.stderr.includes(file), r.stderr);
    assert.match(r.stderr, /fix: .*--model/);
    assert.doesNotMatch(r.stderr, /HDF5-DIAG|at .*\.ts:\d+/, 'no library noise or stack trace');
  });

  test('ftk predict: a saved SVM on the corpus images: every image labelled or listed with its reason, exit 0', { timeout: 120_000 }, async () => {
    const prefix = path.join(tmp, 'svm-feats');
    await writeFeatures(prefix, folder.features, folder.meta);
    const modelFile = path.join(tmp, 'svm-model.json');
    (await svmFit(prefix, { kernel: 'linear', out: modelFile })).model.dispose();
    const r = spawnSync(process.execPath, [path.resolve('bin/ftk.js'), 'predict', modelFile, abs('images'), '--json'], {
      env: { ...process.env, FTK_DEV: '1' },
      encoding: 'utf8',
      timeout: 110_000,
    });
    assert.equal(r.status, 0, r.stderr);
    const doc = JSON.parse(r.stdout) as { predictions: { file: string; label?: string; error?: string }[]; failed: { file: string; error: string }[] };
    const predictions: { file: string; label?: string; error?: string }[] = [...doc.predictions, ...doc.failed];
    const byFile = new Map(predictions.map((p) => [p.file, p]));
    assert.equal(byFile.size, predictions.length, 'no file predicted twice');
    assert.deepEqual(predictions.filter((p) => p.file.includes('/again/')).map((p) => p.file), [], 'the symlink loop dogs/again -> . is not walked');
    const problems: string[] = [];
    for (const kind of plainFolderKinds()) {
      for (const file of kind.files) {
        const p = byFile.get(abs(file));
        if (kind.outcome.status === 'works' && !p?.label) problems.push(`${kind.id}: ${file} ${p ? `failed: ${p.error}` : 'not predicted'}`);
        if (kind.outcome.status === 'skipped' && p?.error !== kind.outcome.reason) problems.push(`${kind.id}: ${file} gave ${JSON.stringify(p)}`);
      }
    }
    assert.deepEqual(problems, []);
    for (const p of predictions) if (p.error) assert.ok(r.stderr.includes(`skipped ${p.file}: ${p.error}`), `stderr names ${p.file}`);
  });
});

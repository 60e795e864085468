/**
 * The auto benchmark's parts (bench/auto, issue 14) without running `ftk auto`: a dataset rebuilt
 * from a git snapshot (class from the path, seeded hold-out, LFS pointers and undecodable files
 * refused, manifest, a missing snapshot naming the `fetch` to run), nested cats-dogs-style subsets
 * with a disjoint test set, test accuracy from a prediction document, "was the pick the better path
 * on test", the issue's `ftk auto` command line, and the section rendered from records.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import sharp from 'sharp';
import { scorePredictions } from '../bench/auto/common.js';
import { buildDataset, DATASETS, mirrorOf, type DatasetSource } from '../bench/auto/datasets.js';
import { renderSection } from '../bench/auto/results_md.js';
import { autoArgs, pickOnTest, runBundles } from '../bench/auto/run.js';
import { buildCatsDogsSubsets } from '../bench/auto/subsets.js';
import { tempDir, writeTree } from './helpers/images.js';

const { dir: tmp, cleanup } = await tempDir('ftk-bench-auto-');
after(cleanup);

const png = (v: number) => sharp(Buffer.alloc(8 * 8 * 3, v), { raw: { width: 8, height: 8, channels: 3 } }).png().toBuffer();

/** A bare-ish git repository under `<mirror>/<owner>+<name>/repo` holding `files`, as `fetch` leaves it. */
async function snapshot(mirror: string, repo: string, files: Record<string, Buffer | string>): Promise<string> {
  const work = path.join(tmp, 'src-' + repo.replace('/', '-'));
  await writeTree(work, files);
  const git = (...args: string[]) => execFileSync('git', args, { cwd: work, encoding: 'utf8', env: { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@t', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@t' } }).trim();
  git('init', '-q');
  git('add', '-A');
  git('commit', '-q', '-m', 'data');
  const commit = git('rev-parse', 'HEAD');
  execFileSync('git', ['clone', '-q', '--bare', work, path.join(mirror, repo.replace('/', '+'), 'repo')]);
  return commit;
}

test('buildDataset: classes from paths, a seeded stratified hold-out, LFS pointers and broken files refused, a manifest; rebuilt only when the descriptor changes', async () => {
  const mirror = path.join(tmp, 'mirror');
  const files: Record<string, Buffer | string> = { 'README.md': 'not an image' };
  for (const c of ['a', 'b', 'c']) for (let i = 0; i < 10; i++) files[`img/${c}-${String(i).padStart(3, '0')}.png`] = await png(20 * i);
  files['img/a-900.png'] = 'version https://git-lfs.github.com/spec/v1\noid sha256:00\nsize 10\n';
  files['img/b-901.png'] = Buffer.from('not a png at all');
  const commit = await snapshot(mirror, 'someone/tiny-set', files);
  const source: DatasetSource = {
    name: 'tiny',
    kind: 'test',
    description: '3 classes',
    repo: 'someone/tiny-set',
    commit,
    license: 'MIT',
    origin: 'test',
    layout: 'img/<class>-<n>.png',
    place: (f) => {
      const m = /^img\/([a-z])-\d+\.png$/.exec(f);
      return m ? { className: m[1] } : null;
    },
    split: { kind: 'holdout', testFraction: 0.3, seed: 0 },
  };
  const work = path.join(tmp, 'work');
  const built = await buildDataset(source, { work, mirror });
  assert.deepEqual(built.classes, ['a', 'b', 'c']);
  // 32 selected, 2 refused before any seed acts, 30 split: 9 held out, 3 per class.
  assert.deepEqual(
    built.failed.map((f) => [f.source, /LFS/.test(f.error)]),
    [
      ['img/a-900.png', true],
      ['img/b-901.png', false],
    ],
  );
  const n = (s: 'train' | 'test') => Object.values(built.counts[s]).reduce((a, b) => a + b, 0);
  assert.equal(n('train') + n('test'), 30);
  assert.deepEqual(built.counts.test, { a: 3, b: 3, c: 3 });
  for (const split of ['train', 'test'] as const) {
    for (const c of built.classes) assert.equal(readdirSync(path.join(work, 'tiny', split, c)).length, built.counts[split][c]);
  }
  const trainFiles = new Set(built.images.filter((i) => i.split === 'train').map((i) => i.source));
  assert.ok(built.images.filter((i) => i.split === 'test').every((i) => !trainFiles.has(i.source)), 'train and test are disjoint');
  assert.equal(built.greyFraction, 1);
  assert.ok(existsSync(path.join(work, 'tiny', 'dataset.json')));

  // Same descriptor: the manifest is reused (same split); another seed: rebuilt, another split.
  const again = await buildDataset(source, { work, mirror });
  assert.deepEqual(again.images, built.images);
  const reseeded = await buildDataset({ ...source, split: { kind: 'holdout', testFraction: 0.3, seed: 1 } }, { work, mirror });
  assert.notDeepEqual(
    reseeded.images.filter((i) => i.split === 'test').map((i) => i.source),
    built.images.filter((i) => i.split === 'test').map((i) => i.source),
  );
});

test('a missing snapshot names the fetch that brings it', () => {
  const flowers = DATASETS[0];
  assert.throws(() => mirrorOf(flowers, path.join(tmp, 'no-mirror')), (err: Error) => err.message.includes(`fetch github:${flowers.repo}`));
});

test('the three datasets: distinct names, pinned commits, stated licenses, paths mapped to classes', () => {
  assert.deepEqual(
    DATASETS.map((d) => d.name),
    ['flowers12', 'trashnet', 'digits'],
  );
  for (const d of DATASETS) {
    assert.match(d.commit, /^[0-9a-f]{40}$/);
    assert.ok(d.license.length > 0 && d.origin.length > 0);
  }
  const [flowers, trash, digits] = DATASETS;
  assert.deepEqual(flowers.place('lab3/flowers/test/colts-foot/image_0881.jpg'), { split: 'test', className: 'colts-foot' });
  assert.equal(flowers.place('lab3/flowers/train_augmented/daisy/image_0001_3.jpg'), null);
  assert.deepEqual(trash.place('dataset-resized/trash/trash12.jpg'), { className: 'trash' });
  assert.equal(trash.place('images/test.png'), null);
  assert.deepEqual(digits.place('img/7-013.png'), { className: '7' });
});

test('cats-dogs subsets: n per class, nested, and a test set no subset touches; rebuilt only when different', async () => {
  const src = path.join(tmp, 'pets');
  const files: Record<string, string> = {};
  for (const c of ['cats', 'dogs']) for (let i = 0; i < 12; i++) files[`${c}/${c}.${i}.jpg`] = `${c}${i}`;
  await writeTree(src, files);
  const out = path.join(tmp, 'subsets');
  const built = await buildCatsDogsSubsets({ source: src, sizes: [5, 2], seed: 3, out });
  assert.deepEqual(
    built.subsets.map((s) => [s.name, s.counts]),
    [
      ['cats-dogs-2', { cats: 2, dogs: 2 }],
      ['cats-dogs-5', { cats: 5, dogs: 5 }],
    ],
  );
  assert.deepEqual(built.test.counts, { cats: 7, dogs: 7 });
  const list = (dir: string) => readdirSync(dir, { recursive: true }).map(String).filter((f) => f.endsWith('.jpg'));
  const small = list(built.subsets[0].dir);
  const large = new Set(list(built.subsets[1].dir));
  assert.ok(small.every((f) => large.has(f)), 'nested');
  assert.ok(list(built.test.dir).every((f) => !large.has(f)), 'test disjoint');
  assert.equal(realpathSync(path.join(built.subsets[0].dir, small[0])), realpathSync(path.join(src, small[0])), 'symlinks to the originals');
  const again = await buildCatsDogsSubsets({ source: src, sizes: [2, 5], seed: 3, out });
  assert.equal(again.subsets[1].filesSha256, built.subsets[1].filesSha256);
});

test('test accuracy from a prediction document: the true class is the parent folder', () => {
  const doc = {
    classes: ['cats', 'dogs'],
    predictions: [
      { file: 'test/cats/1.jpg', label: 'cats', labelIndex: 0 },
      { file: 'test/cats/2.jpg', label: 'dogs', labelIndex: 1 },
      { file: '/abs/test/dogs/3.jpg', label: 'dogs', labelIndex: 1 },
      { file: 'test/dogs/4.jpg', label: null, labelIndex: null, unknown: true },
    ],
    failed: [{ file: 'test/dogs/5.jpg', error: 'truncated' }],
  };
  const s = scorePredictions(doc);
  assert.equal(s.accuracy, 0.5);
  assert.deepEqual(s.perClass, { cats: 0.5, dogs: 0.5 });
  assert.equal(s.failed, 1);
  assert.throws(() => scorePredictions({ ...doc, predictions: [{ file: 'test/birds/1.jpg', label: 'cats', labelIndex: 0 }] }), /birds/);
});

test('was the pick the better path on test: ties count as yes; one path: no verdict; the bundle stands in for a missing path', () => {
  assert.deepEqual(pickOnTest('svm', { svm: { accuracy: 0.9 }, finetune: { accuracy: 0.92 }, bundle: { accuracy: 0.9 } }), {
    chosenAccuracy: 0.9,
    bestOtherAccuracy: 0.92,
    bestOtherPath: 'finetune',
    pickWasBest: false,
    margin: 0.9 - 0.92,
  });
  assert.equal(pickOnTest('finetune', { svm: { accuracy: 0.9 }, finetune: { accuracy: 0.9 } }).pickWasBest, true);
  assert.equal(pickOnTest('svm', { bundle: { accuracy: 0.8 } }).pickWasBest, null);
  assert.equal(pickOnTest('svm', { bundle: { accuracy: 0.8 } }).chosenAccuracy, 0.8);
  assert.equal(runBundles(path.join(tmp, 'no-run')).length, 0);
});

test("the issue's ftk auto command: mobilenet 0.25, the shared weights, seed 0, --refit-all, --json, --budget last", () => {
  const args = autoArgs('data/train', 'runs/x', { budget: 10 });
  assert.deepEqual(args.slice(0, 4), ['auto', 'data/train', '--out', 'runs/x']);
  assert.equal(args[args.indexOf('--model') + 1], 'mobilenet');
  assert.equal(args[args.indexOf('--alpha') + 1], '0.25');
  assert.match(args[args.indexOf('--weights') + 1], /shared\/models\/mobilenet_2_5_224_tf_no_top\.h5$/);
  assert.equal(args[args.indexOf('--seed') + 1], '0');
  assert.ok(args.includes('--refit-all') && args.includes('--json'));
  assert.deepEqual(args.slice(-2), ['--budget', '10']);
  assert.ok(!autoArgs('d', 'r', { refitAll: false }).includes('--refit-all'));
});

test('the RESULTS.md section from records: one row per dataset, the pick in bold, before vs after on the subsets', () => {
  const rec = (name: string, chosen: string, svm: number, finetune: number) => ({
    date: '2026-12-02T12:00:00.000Z',
    cpus: 2,
    cpu: 'CPU',
    memoryGiB: 8,
    platform: 'linux-x64',
    node: 'v20',
    checkout: { commit: 'abcdef0123', dirty: false, ftk: '0.1.0' },
    load: { min: 1.2, max: 2.5 },
    dataset: { name, kind: 'k', classes: ['a', 'b'], counts: { train: { a: 10, b: 10 }, test: { a: 5, b: 5 } } },
    commands: { auto: 'ftk auto x', predict: ['ftk predict y'] },
    chosen,
    cv: [
      { path: 'svm', meanAccuracy: 0.9, ci95: [0.85, 0.95], foldAccuracies: [0.9] },
      { path: 'finetune', meanAccuracy: 0.8, ci95: [0.7, 0.9], foldAccuracies: [0.8] },
    ],
    budget: { minutes: 30, cuts: [] },
    test: { svm: { accuracy: svm }, finetune: { accuracy: finetune } },
    pickOnTest: pickOnTest(chosen, { svm: { accuracy: svm }, finetune: { accuracy: finetune } }),
    minutes: { auto: 3.21 },
  });
  const before = [{ checkout: { commit: '1ebd4cd0000' }, subset: { name: 'cats-dogs-20' }, chosen: 'svm', paths: [{ path: 'svm', meanAccuracy: 0.95, ci95: [0.865, 1] }], test: { accuracy: 0.152 } }];
  const md = renderSection([rec('digits', 'svm', 0.97, 0.95), rec('cats-dogs-20', 'svm', 0.9, 0.93)], before);
  assert.match(md, /\| digits \| k \| 2 \| 20 \/ 10 \| svm \| 90\.0% \(85\.0 to 95\.0\) \| \*\*97\.0%\*\* \| \*\*97\.0%\*\* \| 95\.0% \| yes \| 3\.2 \(load 1\.2-2\.5\) \|/);
  assert.match(md, /\| pick's test accuracy \| test: svm \| test: finetune \| pick better on test\? \| minutes \(load\) \|\n(\|---){11}\|\n/);
  assert.match(md, /\| cats-dogs-20 \|.*\| no \(finetune 93\.0%\) \|/);
  assert.match(md, /\| cats-dogs-20 \| svm: CV 95\.0% \(86\.5 to 100\.0\), test 15\.2% \| svm: CV 90\.0% \(85\.0 to 95\.0\), test 90\.0% \| — \| yes \(test \+74\.8 points; CV -5\.0 points\) \|/);
  assert.throws(() => renderSection([], before), /run.ts/);
});

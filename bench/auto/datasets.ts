/**
 * Three real image datasets from public GitHub repositories for the auto benchmark (issue 14,
 * acceptance 4), one of each kind the issue asks for:
 *
 * | name      | kind                                   | source                                  |
 * |-----------|----------------------------------------|-----------------------------------------|
 * | flowers12 | 12 classes, natural photos             | Oxford 17 Flowers subset, repo's split  |
 * | trashnet  | imbalanced 4.3:1 (paper : trash)       | TrashNet, half of it, 30% held out      |
 * | digits    | far from ImageNet: grey 28x28 digits   | HwD-1000 handwritten digits, 30% held out |
 *
 * The images never enter this repository: each descriptor names the repository, the commit used,
 * its license, and how a file's path gives its class (and split); `buildDataset` rebuilds
 * `<work>/<name>/{train,test}/<class>/<file>` from the local snapshot of that repository under
 * /work/.mirror (brought by the `fetch` tool: `fetch github:<owner>/<name>`), checks that every
 * image decodes as ftk decodes it (src/data/decode.ts, sharp), and writes `<work>/<name>/dataset.json`
 * (descriptor, counts per class per split, image sizes, files). `<work>` defaults to
 * `bench/.work/auto-datasets` (git-ignored).
 *
 *   npx tsx bench/auto/datasets.ts [--only flowers12] [--work bench/.work/auto-datasets] [--mirror /work/.mirror] [--force] [--json]
 *
 * Without a repo split, the test split is a seeded stratified hold-out (`stratifiedTrainTestSplit`,
 * src/data/split.ts): `ftk auto` sees only `train/`; `test/` is scored once, by bench/auto/run.ts.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { compareCodePoints } from '../../src/data/dataset.js';
import { decodeImageRgb } from '../../src/data/decode.js';
import { stratifiedTrainTestSplit } from '../../src/data/split.js';

export type Split = 'train' | 'test';

/** Where a repository file belongs: its class, and its split when the repository has one. */
export interface FilePlace {
  className: string;
  split?: Split;
}

export interface DatasetSource {
  /** Folder name under `<work>`, and the dataset's name in records. */
  name: string;
  /** Which of the issue's kinds it stands for. */
  kind: string;
  /** One line: what the images are. */
  description: string;
  /** GitHub repository, owner/name. */
  repo: string;
  /** The commit the images are read from. */
  commit: string;
  /** The license as stated by the repository (or the dataset's original publisher, said so). */
  license: string;
  /** Where the images come from originally (paper or project). */
  origin: string;
  /** How paths map to classes (and splits), for people: e.g. 'lab3/flowers/{train,test}/<class>/*.jpg'. */
  layout: string;
  /** The class (and split) of a repository path, or null when the file is not part of the set. */
  place: (file: string) => FilePlace | null;
  /** 'repo': the repository's own train/test folders; otherwise a seeded stratified hold-out. */
  split: { kind: 'repo' } | { kind: 'holdout'; testFraction: number; seed: number };
  /** A seeded stratified fraction of the images kept (before the split), to keep runs short on 2 cores. */
  subsample?: { fraction: number; seed: number };
}

const match = (re: RegExp, f: (m: RegExpExecArray) => FilePlace) => (file: string) => {
  const m = re.exec(file);
  return m ? f(m) : null;
};

export const DATASETS: readonly DatasetSource[] = Object.freeze([
  {
    name: 'flowers12',
    kind: '>= 10 classes (natural photos)',
    description: '12 flower species, 80 photos each (60 train + 20 test), 224x224 JPEG',
    repo: 'daniele-gilio/Machine-Learning-Class',
    commit: '35496a1435a27a0818a486fbe6472e7b4325f983',
    license: 'not stated (repository has no license file); the images are from the Oxford 17 Category Flower Dataset, published by the VGG group for research',
    origin: 'Nilsback & Zisserman, "A Visual Vocabulary for Flower Classification", CVPR 2006 (https://www.robots.ox.ac.uk/~vgg/data/flowers/17/), subset and resize by the repository (lab3/flowers/README.txt)',
    layout: 'lab3/flowers/{train,test}/<class>/*.jpg (train_augmented/ not used)',
    place: match(/^lab3\/flowers\/(train|test)\/([^/]+)\/[^/]+\.jpg$/, (m) => ({ split: m[1] as Split, className: m[2] })),
    split: { kind: 'repo' },
  },
  {
    name: 'trashnet',
    kind: 'imbalanced (largest : smallest class = 4.3 : 1)',
    description: '6 kinds of waste photographed on a white board (paper 594 ... trash 137 in the full set), 384x512 JPEG; a seeded stratified half of it',
    repo: 'congduytran12/Trash-Classification-',
    commit: '00212f2c18dcdb9045c74481eaae5baaf72537df',
    license: 'MIT (stated by the dataset\'s own repository garythung/trashnet; this copy states none)',
    origin: 'Thung & Yang, "Classification of Trash for Recyclability Status", Stanford CS229 project 2016 (TrashNet, https://github.com/garythung/trashnet, data/dataset-resized)',
    layout: 'dataset-resized/<class>/*.jpg',
    place: match(/^dataset-resized\/([^/]+)\/[^/]+\.jpg$/, (m) => ({ className: m[1] })),
    split: { kind: 'holdout', testFraction: 0.3, seed: 0 },
    subsample: { fraction: 0.5, seed: 0 },
  },
  {
    name: 'digits',
    kind: 'far from ImageNet (grey 28x28 handwritten digits)',
    description: 'handwritten digits 0-9 drawn black on white, 100 per digit, 28x28 PNG',
    repo: 'niklashenning/hwd-1000-dataset',
    commit: '93b3ba9e45624ee557360229a42298eaa6b3a106',
    license: 'MIT (LICENSE in the repository)',
    origin: 'HwD-1000 by Niklas Henning, 2024 (the repository is the dataset)',
    layout: 'img/<digit>-<nnn>.png (the class is the digit before the dash)',
    place: match(/^img\/(\d)-\d+\.png$/, (m) => ({ className: m[1] })),
    split: { kind: 'holdout', testFraction: 0.3, seed: 0 },
  },
]);

export const DATASET_DEFAULTS = Object.freeze({ work: 'bench/.work/auto-datasets', mirror: '/work/.mirror' });

export interface BuildOptions {
  /** Where `<name>/{train,test}` is written. Default 'bench/.work/auto-datasets'. */
  work?: string;
  /** Folder of the `fetch` snapshots (`<owner>+<name>/repo`). Default '/work/.mirror'. */
  mirror?: string;
  /** Rebuild even when `<work>/<name>/dataset.json` says it is built from the same descriptor. */
  force?: boolean;
  onProgress?: (message: string) => void;
}

export interface ImageRecord {
  /** Path in the repository. */
  source: string;
  split: Split;
  className: string;
  /** Path under `<work>/<name>`. */
  file: string;
  width: number;
  height: number;
  /** True when every pixel has R = G = B. */
  grey: boolean;
}

export interface BuiltDataset {
  name: string;
  kind: string;
  repo: string;
  commit: string;
  license: string;
  origin: string;
  layout: string;
  split: DatasetSource['split'];
  subsample?: DatasetSource['subsample'];
  /** sha256 of the descriptor's fields above: a changed descriptor rebuilds. */
  descriptorSha256: string;
  dir: string;
  train: string;
  test: string;
  classes: string[];
  /** Images per class, per split (class order as `classes`). */
  counts: Record<Split, Record<string, number>>;
  /** Files the descriptor selected that did not decode (none are written). */
  failed: { source: string; error: string }[];
  sizes: { width: [number, number]; height: [number, number] };
  /** Fraction of the images whose pixels are all grey. */
  greyFraction: number;
  images: ImageRecord[];
}

/** The local snapshot of `repo`, or an error saying which `fetch` brings it. */
export function mirrorOf(source: DatasetSource, mirror: string = DATASET_DEFAULTS.mirror): string {
  const gitDir = path.join(mirror, source.repo.replace('/', '+'), 'repo');
  const fetchHint = `bring it with the fetch tool: fetch github:${source.repo} (a bare git directory appears at ${gitDir}), then run this again`;
  if (!existsSync(gitDir)) throw new Error(`${source.name}: no snapshot of ${source.repo} at ${gitDir}; ${fetchHint}`);
  const has = spawnSync('git', ['--git-dir', gitDir, 'cat-file', '-e', `${source.commit}^{commit}`]);
  if (has.status !== 0) throw new Error(`${source.name}: the snapshot at ${gitDir} lacks commit ${source.commit}; ${fetchHint} (or update the descriptor's commit to one the snapshot has, and say so)`);
  return gitDir;
}

interface TreeFile {
  path: string;
  blob: string;
  size: number;
}

function listFiles(gitDir: string, commit: string): TreeFile[] {
  const r = spawnSync('git', ['--git-dir', gitDir, 'ls-tree', '-r', '-z', '--long', commit], { maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`git ls-tree ${commit} in ${gitDir} failed: ${r.stderr.toString()}`);
  return r.stdout
    .toString('utf8')
    .split('\0')
    .filter(Boolean)
    .flatMap((line) => {
      const tab = line.indexOf('\t');
      const [, type, blob, size] = line.slice(0, tab).split(/\s+/);
      return type === 'blob' ? [{ path: line.slice(tab + 1), blob, size: Number(size) }] : [];
    });
}

/** Reads blobs through one `git cat-file --batch` process, in order. */
async function readBlobs(gitDir: string, blobs: string[], onBlob: (i: number, data: Buffer) => Promise<void>): Promise<void> {
  const child = spawn('git', ['--git-dir', gitDir, 'cat-file', '--batch'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`git cat-file --batch exited ${code}`))));
  });
  child.stdin.end(blobs.map((b) => `${b}\n`).join(''));
  let pending: Buffer = Buffer.alloc(0);
  let index = 0;
  for await (const chunk of child.stdout as AsyncIterable<Buffer>) {
    pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
    for (;;) {
      const nl = pending.indexOf(10);
      if (nl < 0) break;
      const header = pending.subarray(0, nl).toString('utf8');
      const [, type, size] = header.split(' ');
      if (type !== 'blob') throw new Error(`git cat-file: ${header}`);
      const end = nl + 1 + Number(size);
      if (pending.length < end + 1) break;
      await onBlob(index++, Buffer.from(pending.subarray(nl + 1, end)));
      pending = pending.subarray(end + 1);
    }
  }
  await exited;
  if (index !== blobs.length) throw new Error(`git cat-file returned ${index} of ${blobs.length} blobs`);
}

function descriptorSha(source: DatasetSource): string {
  const { name, repo, commit, layout, split, subsample } = source;
  return createHash('sha256').update(JSON.stringify({ name, repo, commit, layout, split, subsample, place: source.place.toString() })).digest('hex');
}

const LFS_POINTER = Buffer.from('version https://git-lfs.github.com/spec/');

/** Rebuilds `<work>/<name>/{train,test}/<class>/<file>` from the snapshot (skipped when already built from the same descriptor). */
export async function buildDataset(source: DatasetSource, options: BuildOptions = {}): Promise<BuiltDataset> {
  const work = path.resolve(options.work ?? DATASET_DEFAULTS.work);
  const dir = path.join(work, source.name);
  const manifest = path.join(dir, 'dataset.json');
  const descriptorSha256 = descriptorSha(source);
  if (!options.force && existsSync(manifest)) {
    const built = JSON.parse(readFileSync(manifest, 'utf8')) as BuiltDataset;
    if (built.descriptorSha256 === descriptorSha256 && built.dir === dir) return built;
  }
  const gitDir = mirrorOf(source, options.mirror);
  const say = options.onProgress ?? (() => {});

  // Select, in a fixed order (class, then path, by code point): the order seeds act on.
  const selected = listFiles(gitDir, source.commit)
    .flatMap((f) => {
      const place = source.place(f.path);
      return place ? [{ ...f, ...place }] : [];
    })
    .sort((a, b) => compareCodePoints(a.className, b.className) || compareCodePoints(a.path, b.path));
  if (selected.length === 0) throw new Error(`${source.name}: no file of ${source.repo}@${source.commit.slice(0, 7)} matches ${source.layout}`);
  // Every selected file is decoded first, as ftk decodes it; the ones that fail are listed and
  // left out before any seed acts, so the split's proportions hold for the images written.
  say(`${source.name}: checking ${selected.length} files of ${source.repo}@${source.commit.slice(0, 7)}`);
  const failed: { source: string; error: string }[] = [];
  const decoded = new Map<string, { width: number; height: number; grey: boolean }>();
  await readBlobs(
    gitDir,
    selected.map((f) => f.blob),
    async (i, data) => {
      const f = selected[i];
      if (data.subarray(0, LFS_POINTER.length).equals(LFS_POINTER)) {
        failed.push({ source: f.path, error: 'a Git LFS pointer, not the image (the snapshot does not hold LFS content)' });
        return;
      }
      try {
        const rgb = await decodeImageRgb(data, {}, f.path);
        let grey = true;
        for (let p = 0; p < rgb.data.length && grey; p += 3) grey = rgb.data[p] === rgb.data[p + 1] && rgb.data[p] === rgb.data[p + 2];
        decoded.set(f.path, { width: rgb.width, height: rgb.height, grey });
      } catch (err) {
        failed.push({ source: f.path, error: (err as Error).message });
      }
    },
  );
  const usable = selected.filter((f) => decoded.has(f.path));
  if (usable.length === 0) throw new Error(`${source.name}: none of the ${selected.length} selected files decoded; first: ${failed[0]?.source}: ${failed[0]?.error}`);
  const classes = [...new Set(usable.map((f) => f.className))].sort(compareCodePoints);
  const labelsOf = (files: { className: string }[]) => files.map((f) => classes.indexOf(f.className));

  let kept = usable;
  if (source.subsample) {
    const { test } = stratifiedTrainTestSplit(labelsOf(usable), source.subsample.fraction, { seed: source.subsample.seed });
    kept = Array.from(test, (i) => usable[i]);
  }
  let placed: ((typeof kept)[number] & { split: Split })[];
  if (source.split.kind === 'repo') {
    placed = kept.map((f) => {
      if (!f.split) throw new Error(`${source.name}: ${f.path} has no split, but the descriptor uses the repository's split`);
      return { ...f, split: f.split };
    });
  } else {
    const { test } = stratifiedTrainTestSplit(labelsOf(kept), source.split.testFraction, { seed: source.split.seed });
    const isTest = new Set(test);
    placed = kept.map((f, i) => ({ ...f, split: isTest.has(i) ? 'test' : 'train' }));
  }

  say(`${source.name}: writing ${placed.length} images to ${dir}`);
  await rm(dir, { recursive: true, force: true });
  const images: ImageRecord[] = [];
  const used = new Set<string>();
  await readBlobs(
    gitDir,
    placed.map((f) => f.blob),
    async (i, data) => {
      const f = placed[i];
      let base = path.posix.basename(f.path);
      if (used.has(`${f.split}/${f.className}/${base}`)) base = `${createHash('sha256').update(f.path).digest('hex').slice(0, 8)}_${base}`;
      const file = `${f.split}/${f.className}/${base}`;
      used.add(file);
      await mkdir(path.join(dir, f.split, f.className), { recursive: true });
      await writeFile(path.join(dir, file), data);
      images.push({ source: f.path, split: f.split, className: f.className, file, ...decoded.get(f.path)! });
    },
  );

  const counts = { train: {}, test: {} } as Record<Split, Record<string, number>>;
  for (const split of ['train', 'test'] as const) for (const c of classes) counts[split][c] = images.filter((im) => im.split === split && im.className === c).length;
  const range = (xs: number[]): [number, number] => [Math.min(...xs), Math.max(...xs)];
  const built: BuiltDataset = {
    name: source.name,
    kind: source.kind,
    repo: source.repo,
    commit: source.commit,
    license: source.license,
    origin: source.origin,
    layout: source.layout,
    split: source.split,
    ...(source.subsample ? { subsample: source.subsample } : {}),
    descriptorSha256,
    dir,
    train: path.join(dir, 'train'),
    test: path.join(dir, 'test'),
    classes,
    counts,
    failed,
    sizes: { width: range(images.map((im) => im.width)), height: range(images.map((im) => im.height)) },
    greyFraction: images.filter((im) => im.grey).length / images.length,
    images,
  };
  await writeFile(manifest, JSON.stringify(built, null, 1) + '\n');
  return built;
}

/** The counts of a built dataset as a small text table: one row per class, train and test columns. */
export function countsTable(d: BuiltDataset): string {
  const total = (s: Split) => Object.values(d.counts[s]).reduce((a, b) => a + b, 0);
  const width = Math.max(5, ...d.classes.map((c) => c.length));
  const rows = d.classes.map((c) => `${c.padEnd(width)}  ${String(d.counts.train[c]).padStart(5)}  ${String(d.counts.test[c]).padStart(5)}`);
  return [`${'class'.padEnd(width)}  train   test`, ...rows, `${'total'.padEnd(width)}  ${String(total('train')).padStart(5)}  ${String(total('test')).padStart(5)}`].join('\n');
}

export function datasetByName(name: string): DatasetSource {
  const d = DATASETS.find((x) => x.name === name);
  if (!d) throw new Error(`no dataset named ${JSON.stringify(name)}; must be one of [${DATASETS.map((x) => x.name).join(', ')}]`);
  return d;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: {
      only: { type: 'string', multiple: true },
      work: { type: 'string' },
      mirror: { type: 'string' },
      force: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
    },
  });
  const chosen = values.only?.length ? values.only.map(datasetByName) : DATASETS;
  const summaries = [];
  for (const source of chosen) {
    const d = await buildDataset(source, { work: values.work, mirror: values.mirror, force: values.force, onProgress: (m) => process.stderr.write(`${m}\n`) });
    const { images, ...summary } = d;
    summaries.push(summary);
    if (!values.json) {
      console.log(`\n${d.name} (${d.kind}): ${d.repo}@${d.commit.slice(0, 7)}, license: ${d.license}`);
      console.log(`  ${d.dir}; images ${d.sizes.width.join('-')} x ${d.sizes.height.join('-')} px, ${(100 * d.greyFraction).toFixed(0)}% grey; ${d.failed.length} failed to decode`);
      for (const f of d.failed.slice(0, 5)) console.log(`  failed: ${f.source}: ${f.error}`);
      console.log(countsTable(d).replace(/^/gm, '  '));
    }
  }
  if (values.json) console.log(JSON.stringify(summaries, null, 1));
}

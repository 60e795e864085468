/**
 * Seeded subsets of the shared cats-dogs photos for the auto benchmark (issue 14, acceptance 3):
 * `cats-dogs-<n>` holds n images per class (default 20, 100, 500), and `cats-dogs-test` the
 * images no subset uses (1000 - max n per class), a test set every subset's runs can be scored on.
 *
 * Each class's files (in ftk's scan order) are shuffled once with `new Rng(seed)`; subset n takes
 * the first n, so the subsets are nested (20 inside 100 inside 500) and the test images are the
 * tail. The images are symlinks to the shared files (ftk's scanner always uses symlinked files:
 * src/data/dataset.ts), under `bench/.work/auto-subsets/` (git-ignored).
 *
 *   npx tsx bench/auto/subsets.ts [--sizes 20,100,500] [--seed 0] [--out bench/.work/auto-subsets]
 */
import { createHash } from 'node:crypto';
import { mkdir, readdir, readlink, rm, symlink } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { findDataset } from '../../src/data/dataset.js';
import { Rng } from '../../src/data/random.js';

export interface SubsetOptions {
  /** The full dataset, one folder per class. Default '../shared/datasets/cats-dogs'. */
  source?: string;
  /** Images per class of each subset. Default [20, 100, 500]. */
  sizes?: number[];
  /** Seed of the per-class shuffle. Default 0. */
  seed?: number;
  /** Where the subsets are written. Default 'bench/.work/auto-subsets'. */
  out?: string;
}

export const SUBSET_DEFAULTS = Object.freeze({ source: '../shared/datasets/cats-dogs', sizes: [20, 100, 500] as readonly number[], seed: 0, out: 'bench/.work/auto-subsets' });

export interface Subset {
  /** 'cats-dogs-20', ..., or 'cats-dogs-test'. */
  name: string;
  /** Absolute folder (`<class>/<file>` symlinks). */
  dir: string;
  /** Images per class, by class name. */
  counts: Record<string, number>;
  /** sha256 of the sorted 'class/file' list: the same value means the same images. */
  filesSha256: string;
}

export interface Subsets {
  source: string;
  seed: number;
  subsets: Subset[];
  /** The images no subset holds. */
  test: Subset;
}

export async function buildCatsDogsSubsets(options: SubsetOptions = {}): Promise<Subsets> {
  const source = path.resolve(options.source ?? SUBSET_DEFAULTS.source);
  const sizes = [...(options.sizes ?? SUBSET_DEFAULTS.sizes)].sort((a, b) => a - b);
  const seed = options.seed ?? SUBSET_DEFAULTS.seed;
  const out = path.resolve(options.out ?? SUBSET_DEFAULTS.out);
  const dataset = await findDataset(source);
  const largest = sizes[sizes.length - 1];
  const rng = new Rng(seed);
  const shuffled = dataset.classes.map((c) => {
    const entries = dataset.entries.filter((e) => e.className === c);
    if (entries.length <= largest) throw new Error(`${source}/${c} has ${entries.length} images; a subset of ${largest} per class plus a test set needs more`);
    return rng.shuffle(entries.slice());
  });
  // A subset already on disk with exactly these links is left alone (a run may be reading it).
  const write = async (name: string, pick: (all: (typeof shuffled)[number]) => (typeof shuffled)[number]): Promise<Subset> => {
    const dir = path.join(out, name);
    const counts: Record<string, number> = {};
    const links: { from: string; to: string; file: string }[] = [];
    for (const [k, c] of dataset.classes.entries()) {
      const chosen = pick(shuffled[k]);
      counts[c] = chosen.length;
      for (const e of chosen) links.push({ from: e.path, to: path.join(dir, c, path.basename(e.path)), file: `${c}/${path.basename(e.path)}` });
    }
    if (!(await holdsExactly(dir, links))) {
      await rm(dir, { recursive: true, force: true });
      for (const c of dataset.classes) await mkdir(path.join(dir, c), { recursive: true });
      for (const l of links) await symlink(l.from, l.to);
    }
    const files = links.map((l) => l.file).sort();
    return { name, dir, counts, filesSha256: createHash('sha256').update(files.join('\n')).digest('hex') };
  };
  const subsets: Subset[] = [];
  for (const n of sizes) subsets.push(await write(`cats-dogs-${n}`, (all) => all.slice(0, n)));
  const test = await write('cats-dogs-test', (all) => all.slice(largest));
  return { source, seed, subsets, test };
}

/** True when `dir` holds these symlinks (same targets) and nothing else. */
async function holdsExactly(dir: string, links: { from: string; to: string }[]): Promise<boolean> {
  try {
    const present = (await readdir(dir, { recursive: true, withFileTypes: true })).filter((d) => !d.isDirectory());
    if (present.length !== links.length) return false;
    for (const l of links) if ((await readlink(l.to)) !== l.from) return false;
    return true;
  } catch {
    return false;
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { sizes: { type: 'string' }, seed: { type: 'string' }, out: { type: 'string' }, source: { type: 'string' } } });
  const built = await buildCatsDogsSubsets({
    source: values.source,
    sizes: values.sizes?.split(',').map(Number),
    seed: values.seed === undefined ? undefined : Number(values.seed),
    out: values.out,
  });
  for (const s of [...built.subsets, built.test]) console.log(`${s.name}\t${Object.entries(s.counts).map(([c, n]) => `${c} ${n}`).join(', ')}\t${s.dir}`);
}

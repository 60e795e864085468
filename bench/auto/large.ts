/**
 * `ftk auto` on a 30,000-image dataset (issue 15, acceptance 3): Fashion-MNIST classes 5-9
 * (sandal, shirt, sneaker, bag, ankle boot), all 30,000 training images, as a folder per class
 * (PNG files; symbolic links to the ones bench/fashion_mnist.ts writes, or written here from the
 * IDX files of `apt-get install -y dataset-fashion-mnist`). Above the exact RBF kernel's 11,013
 * rows the feature path trains logistic regression on every row; the record says how many rows
 * each refitted feature-path classifier saw (`featureRefit`) and with which solver.
 *
 *   npx tsx bench/auto/large.ts [--budget 30] [--candidates quick] [-- extra ftk auto flags]
 *
 * Runs bench/auto/cats_dogs.ts on that folder (the record goes to bench/auto/large.jsonl) with
 * MobileNet 0.25 (the shared ImageNet weights).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { readIdx } from '../../src/data/idx.js';

const { values, positionals } = parseArgs({
  options: {
    budget: { type: 'string', default: '30' },
    candidates: { type: 'string', default: 'standard' },
    name: { type: 'string', default: 'fashion-5-9-30k' },
    data: { type: 'string', default: '/usr/share/datasets/fashion-mnist' },
    pngs: { type: 'string', default: 'bench/.work/fashion-mnist/png/train' },
    out: { type: 'string', default: 'bench/.work/auto-large' },
  },
  allowPositionals: true,
});
const CLASS_NAMES = ['t-shirt-top', 'trouser', 'pullover', 'dress', 'coat', 'sandal', 'shirt', 'sneaker', 'bag', 'ankle-boot'];
const TARGET = [5, 6, 7, 8, 9];
const root = path.resolve(values.out!, 'fashion-5-9');
const images = await readIdx(path.join(values.data!, 'train-images-idx3-ubyte.gz'));
const labels = await readIdx(path.join(values.data!, 'train-labels-idx1-ubyte.gz'));
const [, h, w] = images.shape;
const X = images.data as Uint8Array;
const Y = labels.data as Uint8Array;
let count = 0;
for (let i = 0; i < Y.length; i++) {
  if (!TARGET.includes(Y[i])) continue;
  const dir = path.join(root, `${Y[i]}-${CLASS_NAMES[Y[i]]}`);
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${String(i).padStart(5, '0')}.png`);
  count++;
  if (existsSync(file)) continue;
  const png = path.resolve(values.pngs!, `${String(i).padStart(5, '0')}.png`);
  if (existsSync(png)) symlinkSync(png, file);
  else await sharp(Buffer.from(X.subarray(i * h * w, (i + 1) * h * w)), { raw: { width: w, height: h, channels: 1 } }).png().toFile(file);
}
console.log(`${count} training images of classes 5-9 in ${root}`);
const r = spawnSync(
  process.execPath,
  ['--import', 'tsx', 'bench/auto/cats_dogs.ts', '--data', root, '--name', values.name!, '--budget', values.budget!, '--candidates', values.candidates!, '--record', 'bench/auto/large.jsonl', '--', ...positionals],
  { stdio: 'inherit' },
);
process.exit(r.status ?? 1);

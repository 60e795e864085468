/**
 * Seeded image augmentation for training batches: random flip, rotation, translation and zoom,
 * with Keras' preprocessing-layer semantics (`RandomFlip`, `RandomRotation`, `RandomTranslation`,
 * `RandomZoom`, keras/src/layers/preprocessing/image_preprocessing/), done in one resampling.
 *
 * tfjs has none of these layers, so ftk has its own, on float32 HWC pixels (0..255, before
 * ImageNet preprocessing). Every draw comes from an `Rng` the caller seeds, so a view of an image
 * is reproducible from (seed, image, view number): that is what lets fine-tuning cache the frozen
 * layers' output of each augmented view.
 *
 * | option | Keras layer | draw per image |
 * |---|---|---|
 * | `flip: 'horizontal'` | `RandomFlip("horizontal")` | mirrored left-right with probability 1/2 (`'vertical'`, `'horizontal_and_vertical'` likewise) |
 * | `rotate: f` | `RandomRotation(f)` | angle uniform in [-f, f] * 2π (f = 0.1: ±36°) |
 * | `translate: f` | `RandomTranslation(f, f)` | shift uniform in [-f, f] * height (rows) and * width (columns), independently |
 * | `zoom: f` | `RandomZoom(f)` | one scale z uniform in [1 - f, 1 + f] for both axes; z > 1 zooms out (Keras' sign) |
 *
 * The layers apply in that order (flip, rotate, zoom, translate), composed into one affine map
 * from output to input pixel, then sampled bilinearly once (Keras resamples after each layer,
 * blurring a little more). Points that fall outside the image are filled as Keras' `fill_mode`:
 * 'reflect' (default; "d c b a | a b c d | d c b a", TF's `ImageProjectiveTransformV3`), 'nearest'
 * (edge pixel) or 'constant' (0).
 *
 * Porting note: a bare `flip` means 'horizontal' in ftk (photos are rarely upside down), where
 * Keras' `RandomFlip()` default is "horizontal_and_vertical".
 *
 * @example
 * const aug = parseAugmentSpec('flip,rotate=0.1,translate=0.1,zoom=0.1');
 * const t = sampleTransform(new Rng(7), aug, 224, 224);
 * const out = applyTransform(pixels, 224, 224, 3, t, aug.fillMode);
 */
import { OptionsError } from '../errors.js';
import type { Rng } from './random.js';

export type FlipMode = 'none' | 'horizontal' | 'vertical' | 'horizontal_and_vertical';
export type FillMode = 'reflect' | 'nearest' | 'constant';

export interface AugmentOptions {
  /** Random flips. Default 'none'. */
  flip?: FlipMode;
  /** Largest rotation, as a fraction of a full turn (Keras `RandomRotation` factor). Default 0. */
  rotate?: number;
  /** Largest shift, as a fraction of the height and of the width. Default 0. */
  translate?: number;
  /** Largest zoom, as a fraction: scale in [1 - zoom, 1 + zoom]. Default 0. */
  zoom?: number;
  /** How points outside the image are filled. Default 'reflect' (Keras' default). */
  fillMode?: FillMode;
}

export type ResolvedAugment = Required<AugmentOptions>;

/** No augmentation. */
export const NO_AUGMENT: ResolvedAugment = Object.freeze({ flip: 'none', rotate: 0, translate: 0, zoom: 0, fillMode: 'reflect' });

const FLIPS: readonly FlipMode[] = ['none', 'horizontal', 'vertical', 'horizontal_and_vertical'];
const FILLS: readonly FillMode[] = ['reflect', 'nearest', 'constant'];

/** Applies the defaults and checks every field (fractions in [0, 1), rotate in [0, 0.5]). */
export function resolveAugment(options: AugmentOptions = {}): ResolvedAugment {
  const r: ResolvedAugment = {
    flip: options.flip ?? 'none',
    rotate: options.rotate ?? 0,
    translate: options.translate ?? 0,
    zoom: options.zoom ?? 0,
    fillMode: options.fillMode ?? 'reflect',
  };
  if (!FLIPS.includes(r.flip)) throw new OptionsError(`augment flip must be one of [${FLIPS.join(', ')}]. Received ${JSON.stringify(r.flip)}.`, { code: 'AUGMENT_BAD_FLIP' });
  if (!FILLS.includes(r.fillMode)) throw new OptionsError(`augment fillMode must be one of [${FILLS.join(', ')}]. Received ${JSON.stringify(r.fillMode)}.`, { code: 'AUGMENT_BAD_FILL' });
  const check = (name: string, v: number, max: number, maxText: string) => {
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > max) {
      throw new OptionsError(`augment ${name} must be a number in [0, ${maxText}]. Received ${name}=${v}.`, {
        code: 'AUGMENT_BAD_VALUE',
        suggestion: `Use e.g. ${name}=0.1.`,
      });
    }
  };
  check('rotate', r.rotate, 0.5, '0.5] (a fraction of a full turn');
  check('translate', r.translate, 0.99, '0.99');
  check('zoom', r.zoom, 0.99, '0.99');
  return r;
}

/**
 * Parses the CLI spelling: a comma-separated list of `flip[=horizontal|vertical|both]`,
 * `rotate=F`, `translate=F`, `zoom=F`, `fill=reflect|nearest|constant`; 'none' or '' for none.
 * `rotate`, `translate` and `zoom` without a value mean 0.1.
 *
 * @example parseAugmentSpec('flip,rotate=0.1,translate=0.1,zoom=0.1')
 */
export function parseAugmentSpec(spec: string): ResolvedAugment {
  const text = spec.trim();
  if (text === '' || text === 'none') return NO_AUGMENT;
  const options: AugmentOptions = {};
  for (const part of text.split(',')) {
    const [rawKey, rawValue] = part.split('=', 2).map((s) => s.trim());
    const key = rawKey.toLowerCase();
    const number = (): number => {
      if (rawValue === undefined) return 0.1;
      const v = Number(rawValue);
      if (rawValue === '' || !Number.isFinite(v)) throw new OptionsError(`augment ${key} needs a number. Received "${part}".`, { code: 'AUGMENT_BAD_VALUE', suggestion: `Write e.g. ${key}=0.1.` });
      return v;
    };
    switch (key) {
      case 'flip': {
        const v = (rawValue ?? 'horizontal').toLowerCase();
        const flip = v === 'both' ? 'horizontal_and_vertical' : v;
        if (!FLIPS.includes(flip as FlipMode)) {
          throw new OptionsError(`augment flip must be one of [horizontal, vertical, both]. Received "${part}".`, { code: 'AUGMENT_BAD_FLIP' });
        }
        options.flip = flip as FlipMode;
        break;
      }
      case 'rotate':
      case 'rotation':
        options.rotate = number();
        break;
      case 'translate':
      case 'translation':
        options.translate = number();
        break;
      case 'zoom':
        options.zoom = number();
        break;
      case 'fill':
        options.fillMode = (rawValue ?? '') as FillMode;
        break;
      default:
        throw new OptionsError(`Unknown augmentation "${rawKey}" in "${spec}".`, {
          code: 'AUGMENT_UNKNOWN',
          suggestion: 'Must be a comma-separated list of [flip, rotate=F, translate=F, zoom=F, fill=reflect|nearest|constant], or none.',
        });
    }
  }
  return resolveAugment(options);
}

/** Canonical text of an augmentation (the inverse of `parseAugmentSpec`), used in fingerprints and ftk.json. */
export function augmentSpecString(a: ResolvedAugment): string {
  if (isIdentityAugment(a)) return 'none';
  const parts: string[] = [];
  if (a.flip !== 'none') parts.push(`flip=${a.flip === 'horizontal_and_vertical' ? 'both' : a.flip}`);
  if (a.rotate) parts.push(`rotate=${a.rotate}`);
  if (a.translate) parts.push(`translate=${a.translate}`);
  if (a.zoom) parts.push(`zoom=${a.zoom}`);
  parts.push(`fill=${a.fillMode}`);
  return parts.join(',');
}

export function isIdentityAugment(a: ResolvedAugment): boolean {
  return a.flip === 'none' && a.rotate === 0 && a.translate === 0 && a.zoom === 0;
}

/** One drawn augmentation of one image. */
export interface ImageTransform {
  flipHorizontal: boolean;
  flipVertical: boolean;
  /** Radians. */
  angle: number;
  /** Scale (> 1: zoom out). */
  zoom: number;
  /** Shift in pixels (positive: down / right). */
  shiftY: number;
  shiftX: number;
}

export const IDENTITY_TRANSFORM: ImageTransform = Object.freeze({ flipHorizontal: false, flipVertical: false, angle: 0, zoom: 1, shiftY: 0, shiftX: 0 });

/**
 * Draws one transform. Draws are made in a fixed order whatever is enabled (flip, flip, angle,
 * zoom, shiftY, shiftX), so enabling one option never changes the draws of another.
 */
export function sampleTransform(rng: Rng, a: ResolvedAugment, height: number, width: number): ImageTransform {
  const uniform = (f: number) => (rng.next() * 2 - 1) * f;
  const h = rng.next() < 0.5;
  const v = rng.next() < 0.5;
  const angle = uniform(a.rotate) * 2 * Math.PI;
  const zoom = 1 + uniform(a.zoom);
  const shiftY = uniform(a.translate) * height;
  const shiftX = uniform(a.translate) * width;
  return {
    flipHorizontal: (a.flip === 'horizontal' || a.flip === 'horizontal_and_vertical') && h,
    flipVertical: (a.flip === 'vertical' || a.flip === 'horizontal_and_vertical') && v,
    angle,
    zoom,
    shiftY,
    shiftX,
  };
}

/** TF's `map_coord` for fill_mode='reflect' (half-sample symmetric), on a continuous coordinate. */
function reflect(coord: number, len: number): number {
  if (len <= 1) return 0;
  const size2 = 2 * len;
  let c = coord;
  if (c < 0) {
    if (c < -size2) c += size2 * Math.trunc(-c / size2);
    c = c < -len ? c + size2 : -c - 1;
  } else if (c > len - 1) {
    c -= size2 * Math.trunc(c / size2);
    if (c >= len) c = size2 - c - 1;
  }
  return Math.min(Math.max(c, 0), len - 1);
}

/**
 * Resamples `src` (float32 HWC, `channels` per pixel) through `t`; returns a new array (or fills
 * `out`). The identity transform copies.
 */
export function applyTransform(
  src: Float32Array,
  height: number,
  width: number,
  channels: number,
  t: ImageTransform,
  fillMode: FillMode = 'reflect',
  out: Float32Array = new Float32Array(height * width * channels),
): Float32Array {
  if (!t.flipHorizontal && !t.flipVertical && t.angle === 0 && t.zoom === 1 && t.shiftX === 0 && t.shiftY === 0) {
    out.set(src.subarray(0, height * width * channels));
    return out;
  }
  // Output (x, y) -> input: undo translate, zoom, rotate, flip (applied in the opposite order).
  // q = c + R * z * (p - shift - c), then flips; all affine: in = A p + b.
  const cx = (width - 1) / 2;
  const cy = (height - 1) / 2;
  const cos = Math.cos(t.angle) * t.zoom;
  const sin = Math.sin(t.angle) * t.zoom;
  // Rotation by angle (counter-clockwise on screen for positive angles) then zoom.
  let axx = cos;
  let axy = -sin;
  let ayx = sin;
  let ayy = cos;
  const px0 = -t.shiftX - cx;
  const py0 = -t.shiftY - cy;
  let bx = cx + axx * px0 + axy * py0;
  let by = cy + ayx * px0 + ayy * py0;
  if (t.flipHorizontal) {
    axx = -axx;
    axy = -axy;
    bx = width - 1 - bx;
  }
  if (t.flipVertical) {
    ayx = -ayx;
    ayy = -ayy;
    by = height - 1 - by;
  }
  const rowStride = width * channels;
  let o = 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let sx = axx * x + axy * y + bx;
      let sy = ayx * x + ayy * y + by;
      if (fillMode === 'constant') {
        if (sx <= -1 || sx >= width || sy <= -1 || sy >= height) {
          for (let c = 0; c < channels; c++) out[o++] = 0;
          continue;
        }
      } else if (fillMode === 'reflect') {
        sx = reflect(sx, width);
        sy = reflect(sy, height);
      } else {
        sx = Math.min(Math.max(sx, 0), width - 1);
        sy = Math.min(Math.max(sy, 0), height - 1);
      }
      const x0 = Math.floor(sx);
      const y0 = Math.floor(sy);
      const wx = sx - x0;
      const wy = sy - y0;
      const inX0 = x0 >= 0 && x0 < width;
      const inX1 = x0 + 1 >= 0 && x0 + 1 < width;
      const inY0 = y0 >= 0 && y0 < height;
      const inY1 = y0 + 1 >= 0 && y0 + 1 < height;
      const w00 = inY0 && inX0 ? (1 - wy) * (1 - wx) : 0;
      const w01 = inY0 && inX1 ? (1 - wy) * wx : 0;
      const w10 = inY1 && inX0 ? wy * (1 - wx) : 0;
      const w11 = inY1 && inX1 ? wy * wx : 0;
      const i00 = y0 * rowStride + x0 * channels;
      for (let c = 0; c < channels; c++) {
        let v = 0;
        if (w00) v += w00 * src[i00 + c];
        if (w01) v += w01 * src[i00 + channels + c];
        if (w10) v += w10 * src[i00 + rowStride + c];
        if (w11) v += w11 * src[i00 + rowStride + channels + c];
        out[o++] = v;
      }
    }
  }
  return out;
}

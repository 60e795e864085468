/**
 * Test-time augmentation (TTA) of bottleneck features, a property of the backbone configuration
 * (`BackboneInfo.tta`, part of its fingerprint):
 *
 * - 'none': one forward pass per image.
 * - 'flip': the image's feature vector is the mean of the pooled features of the model input and
 *   of its horizontal mirror. The mirror is taken of the decoded, resized, preprocessed tensor
 *   (width axis reversed), not of the file, so both views share one decode; preprocessing is per
 *   pixel, so mirroring before or after it gives the same tensor.
 *
 * Where it runs: the extraction pipeline (src/extract/extract.ts) puts both views of an image in
 * adjacent rows of the same inference batch and averages the two output rows before the cache;
 * the exported ONNX classifier (src/export/export.ts) does the same in its graph. The backbone
 * network itself knows nothing of it: its exported ONNX graph is shared by both modes
 * (`networkInfo`).
 *
 * Only pooled features: with pooling 'none' the feature is the spatial map, and the mirror's map
 * would have to be mirrored back (in a layout foreign models do not always declare) before it
 * means the same positions; ftk refuses that combination instead of guessing.
 *
 * No heavy imports here: the CLI reads TTA_MODES at start-up.
 */
import { OptionsError } from '../errors.js';

export const TTA_MODES = ['none', 'flip'] as const;
export type TtaMode = (typeof TTA_MODES)[number];

/** Forward passes per image under `tta`. */
export function ttaViews(tta: TtaMode | undefined): 1 | 2 {
  return tta === 'flip' ? 2 : 1;
}

/** Checks the `tta` option against the pooling it goes with; returns the mode (default 'none'). */
export function resolveTta(tta: unknown, pooling: 'avg' | 'max' | 'none'): TtaMode {
  const mode = tta ?? 'none';
  if (!TTA_MODES.includes(mode as TtaMode)) {
    throw new OptionsError(`tta must be one of [${TTA_MODES.join(', ')}]. Received tta=${JSON.stringify(tta)}.`, {
      code: 'TTA_UNKNOWN',
      suggestion: "Use 'flip' (mean of the image's and its mirror's features) or 'none'.",
    });
  }
  if (mode === 'flip' && pooling === 'none') {
    throw new OptionsError("tta 'flip' averages pooled features; with pooling 'none' the feature is the spatial map, whose mirrored copy does not line up with the original's. Received pooling=none, tta=flip.", {
      code: 'TTA_POOLING',
      suggestion: 'Use --pooling avg or max with --tta flip (a bottleneck that is already a vector gives the same features with any pooling), or --tta none.',
    });
  }
  return mode as TtaMode;
}

/**
 * Writes the horizontal mirror of one HWC image (`size` x `size` x 3 float32) into `out` at
 * `offset`: pixel (y, x) of the mirror is pixel (y, size - 1 - x) of the source, channels in order.
 */
export function mirrorInto(pixels: Float32Array, size: number, out: Float32Array, offset: number): void {
  const row = size * 3;
  for (let y = 0; y < size; y++) {
    const from = y * row;
    const to = offset + y * row;
    for (let x = 0; x < size; x++) {
      const s = from + (size - 1 - x) * 3;
      const d = to + x * 3;
      out[d] = pixels[s];
      out[d + 1] = pixels[s + 1];
      out[d + 2] = pixels[s + 2];
    }
  }
}

/**
 * Mean of each pair of adjacent rows: `rows` holds `count` images x 2 views x `dim` values (view 0
 * the image, view 1 its mirror); returns `count` x `dim`, computed in double and stored as float32.
 */
export function averageViews(rows: Float32Array, count: number, dim: number): Float32Array {
  const out = new Float32Array(count * dim);
  for (let j = 0; j < count; j++) {
    const a = 2 * j * dim;
    const b = a + dim;
    const o = j * dim;
    for (let c = 0; c < dim; c++) out[o + c] = (rows[a + c] + rows[b + c]) * 0.5;
  }
  return out;
}

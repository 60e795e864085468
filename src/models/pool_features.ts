/**
 * Turning the tensor a foreign backbone outputs (ONNX, TF.js graph model) into one feature row per
 * image: global average or max pooling of 4-D tensors over their spatial axes, in the tensor's own
 * layout, and flattening of anything else. Plain loops on Float32Arrays (the tensors are small:
 * a [N, 2048, 7, 7] map is 100k values per image).
 */

/** Memory order of a 4-D tensor: channels first (PyTorch, most ONNX graphs) or last (TF, Keras). */
export type TensorLayout = 'nchw' | 'nhwc';

/** One tensor of a foreign model (ONNX graph, TF.js graph or layers model), as `ftk info` lists it. */
export interface TensorListing {
  name: string;
  /** Operator that produces it (ONNX op, TF op or Keras layer class). */
  opType: string;
  /** Shape for one image (batch 1), measured. */
  shape: number[];
  /** Layout assumed for a 4-D tensor. */
  layout?: TensorLayout;
  /** Features per image with the default pooling (avg for 4-D). */
  features: number;
  /** A graph output of the original file. */
  isOutput: boolean;
}

/**
 * The layout of a 4-D tensor from its shape: with square inputs the two spatial sizes are equal,
 * so `[N, C, S, S]` is NCHW and `[N, S, S, C]` NHWC. When the shape does not tell (C = S, or
 * non-square maps) the graph input's layout is taken, and `ambiguous` says so.
 */
export function guessLayout(dims: readonly number[], fallback: TensorLayout): { layout: TensorLayout; ambiguous: boolean } {
  const [, a, b, c] = dims;
  if (b === c && a !== b) return { layout: 'nchw', ambiguous: false };
  if (a === b && c !== a) return { layout: 'nhwc', ambiguous: false };
  return { layout: fallback, ambiguous: true };
}

/** Features per image for a tensor of shape `dims` (batch first). */
export function pooledDim(dims: readonly number[], pooling: 'avg' | 'max' | 'none', layout: TensorLayout): number {
  if (dims.length === 4 && pooling !== 'none') return layout === 'nchw' ? dims[1] : dims[3];
  return dims.slice(1).reduce((a, b) => a * b, 1);
}

/**
 * `[N, D]` rows from a batch tensor: 4-D tensors pooled over their spatial axes unless `pooling`
 * is 'none'; every other rank (and unpooled 4-D) flattened in the tensor's own element order.
 */
export function poolFeatures(data: Float32Array, dims: readonly number[], pooling: 'avg' | 'max' | 'none', layout: TensorLayout): Float32Array {
  if (dims.length !== 4 || pooling === 'none') return data;
  const [n] = dims;
  const channels = layout === 'nchw' ? dims[1] : dims[3];
  const spatial = layout === 'nchw' ? dims[2] * dims[3] : dims[1] * dims[2];
  const out = new Float32Array(n * channels);
  const avg = pooling === 'avg';
  for (let i = 0; i < n; i++) {
    const base = i * channels * spatial;
    const row = i * channels;
    if (layout === 'nchw') {
      for (let c = 0; c < channels; c++) {
        const off = base + c * spatial;
        let acc = avg ? 0 : -Infinity;
        for (let s = 0; s < spatial; s++) {
          const v = data[off + s];
          if (avg) acc += v;
          else if (v > acc) acc = v;
        }
        out[row + c] = avg ? acc / spatial : acc;
      }
    } else {
      const acc = new Float64Array(channels).fill(avg ? 0 : -Infinity);
      for (let s = 0; s < spatial; s++) {
        const off = base + s * channels;
        for (let c = 0; c < channels; c++) {
          const v = data[off + c];
          if (avg) acc[c] += v;
          else if (v > acc[c]) acc[c] = v;
        }
      }
      for (let c = 0; c < channels; c++) out[row + c] = avg ? acc[c] / spatial : acc[c];
    }
  }
  return out;
}

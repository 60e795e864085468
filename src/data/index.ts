/** The dataset layer: finding images and labels, decoding and resizing them, content hashes. */
export { compareCodePoints, findDataset, IMAGE_EXTENSIONS, parseCsv } from './dataset.js';
export type { Dataset, FindDatasetOptions, ImageEntry } from './dataset.js';
export { decodeImage, DEFAULT_MAX_INPUT_PIXELS, ImageDecodeError } from './decode.js';
export type { DecodedImage, DecodeOptions } from './decode.js';
export { centerCropBox, resizeBilinear } from './resize.js';
export type { CropBox, PixelSource, ResizeOptions } from './resize.js';
export { findDuplicates, sha256File } from './hash.js';

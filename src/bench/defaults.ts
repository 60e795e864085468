/** `ftk bench`'s methods and defaults, in a module that loads nothing else (the CLI prints them in its help). */
export type BenchMethod = 'scratch' | 'svm' | 'finetune';
export const BENCH_METHODS: readonly BenchMethod[] = Object.freeze(['scratch', 'svm', 'finetune'] as const);

export const BENCH_DEFAULTS = Object.freeze({
  methods: BENCH_METHODS,
  folds: 5,
  seed: 0,
  model: 'mobilenet_v2',
  weights: 'imagenet',
  scratchModel: 'smallcnn',
  /** Inner folds of the SVM's nested grid search (as `ftk auto`). */
  innerFolds: 3,
});

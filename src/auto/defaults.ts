/** `ftk auto`'s defaults, in a module that loads nothing else (the CLI prints them in its help). */
export const AUTO_DEFAULTS = Object.freeze({
  model: 'mobilenet_v2',
  weights: 'imagenet',
  budget: 30,
  folds: 5,
  seed: 0,
  curveFractions: [0.1, 0.25, 0.5, 1] as readonly number[],
});

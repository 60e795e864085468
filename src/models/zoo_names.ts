/** The zoo's model names, in a module that loads nothing (`ftk info` lists them without TF.js). src/models/registry.ts checks that its table has exactly these. */
export const ZOO_MODEL_NAMES = Object.freeze(['mobilenet', 'mobilenet_v2', 'vgg16', 'vgg19', 'resnet50', 'inception_v3'] as const);

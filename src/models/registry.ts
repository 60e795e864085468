/**
 * The frozen registry of ftk's model zoo: one entry per architecture, with its builder,
 * preprocessing mode, default input size, feature size and Keras weight files. Tests iterate it.
 */
import { OptionsError } from '../errors.js';
import { inceptionV3Spec } from './inception_v3.js';
import { mobilenetSpec } from './mobilenet.js';
import { mobilenetV2Spec } from './mobilenet_v2.js';
import { resnet50Spec } from './resnet50.js';
import type { ModelName, ModelSpec } from './types.js';
import { vgg16Spec } from './vgg16.js';
import { vgg19Spec } from './vgg19.js';
import { ZOO_MODEL_NAMES } from './zoo_names.js';

export const MODELS: Readonly<Record<ModelName, ModelSpec>> = Object.freeze({
  mobilenet: mobilenetSpec,
  mobilenet_v2: mobilenetV2Spec,
  vgg16: vgg16Spec,
  vgg19: vgg19Spec,
  resnet50: resnet50Spec,
  inception_v3: inceptionV3Spec,
});

export const MODEL_NAMES = Object.freeze(Object.keys(MODELS) as ModelName[]);
// The light list `ftk info` prints without loading the builders must name the same models.
if (MODEL_NAMES.join() !== ZOO_MODEL_NAMES.join()) throw new Error(`src/models/zoo_names.ts (${ZOO_MODEL_NAMES.join()}) differs from the registry (${MODEL_NAMES.join()})`);

/** Accepts Keras-style spellings too: 'MobileNetV2', 'mobilenetv2', 'inceptionv3', 'resnet-50'. */
export function getModelSpec(name: string): ModelSpec {
  const key = name.toLowerCase().replace(/[-\s]/g, '_');
  const aliases: Record<string, ModelName> = {
    mobilenetv2: 'mobilenet_v2',
    mobilenet_v1: 'mobilenet',
    inceptionv3: 'inception_v3',
    resnet_50: 'resnet50',
    vgg_16: 'vgg16',
    vgg_19: 'vgg19',
  };
  const spec = MODELS[(aliases[key] ?? key) as ModelName];
  if (!spec) {
    throw new OptionsError(`Unknown model "${name}".`, {
      code: 'MODEL_UNKNOWN',
      suggestion: `Must be one of [${MODEL_NAMES.join(', ')}].`,
    });
  }
  return spec;
}

/**
 * The device fine-tuning runs on: the TF.js backend that trains (WebGPU on a GPU, tfjs-node-gpu
 * for CUDA when installed; the CPU's automatic choice otherwise) and the ONNX Runtime provider of
 * the frozen layers' pass. Chosen once, before the model is built.
 */
import { OptionsError } from '../errors.js';
import { selectBackend, type BackendInfo, type BackendName } from '../runtime/backend.js';
import { chooseDevice, trainingBackendFor, type DeviceChoice, type DeviceName } from '../runtime/device.js';
import { registerWasmTrainingKernels } from '../runtime/wasm_gradients.js';

export async function chooseTrainingDevice(
  device: DeviceName | DeviceChoice,
  backend: BackendName | 'auto',
  onNotice: (message: string) => void,
): Promise<{ device: DeviceChoice; backend: BackendInfo }> {
  const choice = await chooseDevice(device, { onNotice });
  let wanted = backend;
  if (choice.provider !== 'cpu') {
    const gpuBackend = await trainingBackendFor(choice);
    if (backend !== 'auto' && backend !== gpuBackend) {
      throw new OptionsError(`--backend ${backend} conflicts with the ${choice.provider} device, which trains on the ${gpuBackend} backend.`, {
        code: 'DEVICE_BACKEND_CONFLICT',
        suggestion: `Drop --backend (or pass --backend ${gpuBackend}), or use --device cpu to train on ${backend}.`,
      });
    }
    wanted = gpuBackend;
  }
  const info = await selectBackend({ backend: wanted, onNotice });
  // The wasm-only kernels are registered for 'wasm' alone (tfjs keys kernels by backend), so
  // they never replace another backend's (test/gpu.test.ts trains on webgpu after registering them).
  if (info.name === 'wasm') registerWasmTrainingKernels();
  return { device: choice, backend: info };
}

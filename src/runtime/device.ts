/**
 * Devices: which processor runs a model, chosen once per command from `--device`
 * (`auto|cpu|gpu|webgpu|cuda`) and then passed in (ONNX Runtime's execution provider for
 * inference, the TF.js backend for training).
 *
 * - `cuda`: ONNX Runtime's CUDA execution provider. onnxruntime-node does not bundle it: its
 *   libraries come with `ONNXRUNTIME_NODE_INSTALL=cuda12 npm rebuild onnxruntime-node` (a NuGet
 *   download) and need CUDA 12 + cuDNN 9. Training on CUDA uses `@tensorflow/tfjs-node-gpu` when
 *   installed, else TF.js' WebGPU backend.
 * - `webgpu`: ONNX Runtime's WebGPU execution provider (bundled, Google's Dawn) for inference and
 *   TF.js' WebGPU backend (through the `webgpu` npm package, also Dawn) for training. Any GPU with
 *   a Vulkan driver (NVIDIA, AMD, Intel); Mesa's software Vulkan driver (lavapipe) serves it on a
 *   machine without one, slowly.
 * - `gpu`: CUDA when its provider loads, else a hardware WebGPU adapter; an error if neither.
 * - `auto`: like `gpu`, else the CPU, and says why.
 *
 * Software adapters (lavapipe/llvmpipe, SwiftShader: slower than the CPU) are never chosen by
 * `auto` or `gpu`; `--device webgpu` uses one when it is all there is (and says so), and
 * `FTK_ALLOW_SOFTWARE_GPU=1` lets `auto`/`gpu` take one (for tests).
 *
 * A requested device that cannot be used is an error naming why and the fix, never a silent
 * fallback (tfjs-node-gpu runs on the CPU without a word when CUDA is missing).
 *
 * Probing: the WebGPU adapter is looked up in a child process (Dawn prints driver warnings on the
 * process' stderr, and a broken Vulkan driver can crash the process that loads it); the CUDA
 * provider by its library file, then a one-node session. Both are cached for the process. Nothing
 * here loads at import time: `ftk --help` never touches a GPU library.
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { RuntimeError } from '../errors.js';
import { DEVICE_NAMES, type DeviceName, type DeviceRecord, type ProviderName } from '../formats/device.js';

export { DEVICE_NAMES, type DeviceName, type DeviceRecord, type ProviderName };

/** What a WebGPU adapter says about itself (GPUAdapterInfo), plus ftk's software verdict. */
export interface GpuAdapterInfo {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** lavapipe/llvmpipe, SwiftShader, or an adapter the browser API calls a fallback. */
  software: boolean;
}

export interface WebGpuProbe {
  /** The adapter Dawn returns for 'high-performance', if any. */
  adapter?: GpuAdapterInfo;
  /** Why there is none (package missing, no Vulkan driver, ...). */
  error?: string;
}

export interface CudaProbe {
  available: boolean;
  /** Why not (missing library, failed session), or the library path when available. */
  detail: string;
}

/** Everything `ftk info` says about devices. */
export interface DeviceListing {
  cpu: { cores: number };
  webgpu: WebGpuProbe & { onnxProvider: boolean };
  cuda: CudaProbe;
  /** What `--device auto` picks here, and why. */
  auto: { provider: ProviderName; reason: string };
  /** Whether FTK_ALLOW_SOFTWARE_GPU is set. */
  allowSoftware: boolean;
}

/** The command a user runs to add the CUDA provider (also in the README's GPU section). */
export const CUDA_INSTALL_COMMAND = 'ONNXRUNTIME_NODE_INSTALL=cuda12 npm rebuild onnxruntime-node';
/** Environment switch that lets `auto`/`gpu` choose a software adapter. */
export const ALLOW_SOFTWARE_GPU_ENV = 'FTK_ALLOW_SOFTWARE_GPU';

const require = createRequire(import.meta.url);
const SOFTWARE_NAMES = /llvmpipe|lavapipe|swiftshader|softpipe|software/i;

/** True for an adapter that computes on the CPU. */
export function isSoftwareAdapter(info: { vendor?: string; architecture?: string; device?: string; description?: string; isFallbackAdapter?: boolean }): boolean {
  return Boolean(info.isFallbackAdapter) || info.architecture === 'software' || SOFTWARE_NAMES.test(`${info.device ?? ''} ${info.description ?? ''}`);
}

export function allowSoftwareGpu(): boolean {
  const v = process.env[ALLOW_SOFTWARE_GPU_ENV];
  return v !== undefined && v !== '' && v !== '0' && v.toLowerCase() !== 'false';
}

/** Checks a `device` option value. */
export function checkDeviceName(device: unknown): DeviceName {
  if (typeof device !== 'string' || !DEVICE_NAMES.includes(device as DeviceName)) {
    throw new RuntimeError(`Unknown device "${String(device)}".`, { code: 'DEVICE_UNKNOWN', suggestion: `Must be one of [${DEVICE_NAMES.join(', ')}].` });
  }
  return device as DeviceName;
}

// The child process: prints one JSON line, { adapter } or { error }.
const PROBE_SCRIPT = `
const url = process.argv[1];
try {
  const { create } = await import(url);
  const gpu = create([]);
  const a = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!a) process.stdout.write(JSON.stringify({ error: 'no WebGPU adapter (no Vulkan driver found)' }));
  else {
    const i = a.info;
    process.stdout.write(JSON.stringify({ adapter: { vendor: i.vendor, architecture: i.architecture, device: i.device, description: i.description, isFallbackAdapter: i.isFallbackAdapter ?? a.isFallbackAdapter } }));
  }
} catch (err) {
  process.stdout.write(JSON.stringify({ error: String(err && err.message || err).split('\\n')[0] }));
}
process.exit(0);
`;

let webgpuProbe: Promise<WebGpuProbe> | undefined;

/** Looks for a WebGPU adapter (once per process; see the module notes). */
export function probeWebGpu(): Promise<WebGpuProbe> {
  webgpuProbe ??= new Promise<WebGpuProbe>((resolve) => {
    let entry: string;
    try {
      entry = pathToFileURL(require.resolve('webgpu')).href;
    } catch {
      resolve({ error: "the 'webgpu' npm package is not installed (npm ci installs it)" });
      return;
    }
    execFile(process.execPath, ['--input-type=module', '-e', PROBE_SCRIPT, entry], { timeout: 60_000, encoding: 'utf8' }, (err, stdout) => {
      const line = stdout.trim().split('\n').pop() ?? '';
      try {
        const parsed = JSON.parse(line) as { adapter?: Omit<GpuAdapterInfo, 'software'> & { isFallbackAdapter?: boolean }; error?: string };
        if (parsed.adapter) {
          const { isFallbackAdapter, ...a } = parsed.adapter;
          resolve({ adapter: { ...a, software: isSoftwareAdapter({ ...a, isFallbackAdapter }) } });
        } else resolve({ error: parsed.error ?? 'no WebGPU adapter' });
      } catch {
        resolve({ error: `the WebGPU probe failed${err ? `: ${err.message.split('\n')[0]}` : ''}` });
      }
    });
  });
  return webgpuProbe;
}

const listDir = (dir: string): string[] => {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
};

/**
 * Linux without any GPU device node (DRM render node, NVIDIA's, WSL's /dev/dxg): no hardware
 * adapter can exist, only software Vulkan drivers, so `auto` needs no WebGPU probe (which costs a
 * child process, ~0.5-1 s). Undefined where a GPU may exist (or another OS, or a Vulkan driver
 * chosen by VK_ICD_FILENAMES / VK_DRIVER_FILES).
 */
export function noGpuDeviceNode(): string | undefined {
  if (process.platform !== 'linux' || process.env.VK_ICD_FILENAMES || process.env.VK_DRIVER_FILES) return undefined;
  const found = listDir('/dev/dri').some((n) => n.startsWith('renderD')) || listDir('/dev').some((n) => /^nvidia\d+$/.test(n) || n === 'dxg');
  return found ? undefined : 'no GPU device node (/dev/dri/renderD*, /dev/nvidia*, /dev/dxg)';
}

/** Folder of onnxruntime-node's native binaries for this platform, if installed. */
function ortBinaryDir(): string | undefined {
  try {
    const pkg = path.dirname(require.resolve('onnxruntime-node/package.json'));
    return path.join(pkg, 'bin', 'napi-v6', process.platform, process.arch);
  } catch {
    return undefined;
  }
}

/** The ONNX Runtime execution providers onnxruntime-node can create here (bundled or installed). */
export async function onnxProvidersSupported(): Promise<{ name: string; bundled: boolean }[]> {
  try {
    const { loadOnnxRuntime } = await import('./onnx_engine.js');
    const ort = (await loadOnnxRuntime()) as unknown as { listSupportedBackends?: () => { name: string; bundled: boolean }[] };
    return ort.listSupportedBackends?.() ?? [{ name: 'cpu', bundled: true }];
  } catch {
    return [];
  }
}

let cudaProbe: Promise<CudaProbe> | undefined;

/** Whether ONNX Runtime's CUDA provider loads here (once per process). */
export function probeCuda(): Promise<CudaProbe> {
  cudaProbe ??= (async (): Promise<CudaProbe> => {
    const dir = ortBinaryDir();
    const lib = process.platform === 'win32' ? 'onnxruntime_providers_cuda.dll' : 'libonnxruntime_providers_cuda.so';
    if (!dir || !existsSync(path.join(dir, lib))) {
      return { available: false, detail: `ONNX Runtime's CUDA provider (${lib}) is not installed${dir ? ` in ${dir}` : ''}` };
    }
    try {
      const { OnnxEngine } = await import('./onnx_engine.js');
      const { tinyOnnxGraph } = await import('./onnx_tiny.js');
      const engine = await OnnxEngine.create(tinyOnnxGraph(), { provider: 'cuda', threads: 1 });
      await engine.release();
      return { available: true, detail: path.join(dir, lib) };
    } catch (err) {
      return { available: false, detail: `ONNX Runtime's CUDA provider did not load: ${(err as Error).message.split('\n')[0]} (it needs CUDA 12 and cuDNN 9 on the library path)` };
    }
  })();
  return cudaProbe;
}

export interface ResolveDeviceOptions {
  /** Told once which device `auto` chose, and why. */
  onNotice?: (message: string) => void;
}

/** The device a command runs on: `record` goes into the files it writes. */
export interface DeviceChoice {
  provider: ProviderName;
  record: DeviceRecord;
  adapter?: GpuAdapterInfo;
}

const webgpuFix = 'Install a Vulkan driver for your GPU (NVIDIA: the proprietary driver with its Vulkan ICD; AMD/Intel: Mesa, `mesa-vulkan-drivers`), check it with `vulkaninfo --summary`, set XDG_RUNTIME_DIR to a writable directory, and see "GPU" in the README; or use --device cpu.';
const cudaFix = `Install CUDA 12 and cuDNN 9, then \`${CUDA_INSTALL_COMMAND}\` (downloads the CUDA provider); or use --device webgpu (any GPU with a Vulkan driver) or --device cpu.`;

function adapterName(a: GpuAdapterInfo): string {
  return a.description || `${a.vendor} ${a.device}`.trim();
}

/**
 * Chooses the device for `requested` (see the module notes). Cost: `cpu` none; the others probe
 * once per process (a child process for WebGPU, ~0.1-1 s).
 * @throws RuntimeError 'DEVICE_UNAVAILABLE' when a requested device cannot be used, 'DEVICE_UNKNOWN'.
 */
export async function resolveDevice(requested: DeviceName = 'auto', options: ResolveDeviceOptions = {}): Promise<DeviceChoice> {
  const wanted = checkDeviceName(requested);
  const make = (provider: ProviderName, reason: string, adapter?: GpuAdapterInfo): DeviceChoice => ({
    provider,
    adapter,
    record: { requested: wanted, provider, reason, ...(adapter ? { adapter: adapterName(adapter), software: adapter.software } : {}) },
  });
  if (wanted === 'cpu') return make('cpu', 'requested');
  if (wanted === 'cuda') {
    const cuda = await probeCuda();
    if (!cuda.available) throw new RuntimeError(`--device cuda: ${cuda.detail}.`, { code: 'DEVICE_UNAVAILABLE', suggestion: cudaFix });
    return make('cuda', 'requested');
  }
  if (wanted === 'webgpu') {
    const probe = await probeWebGpu();
    if (!probe.adapter) throw new RuntimeError(`--device webgpu: no WebGPU adapter: ${probe.error}.`, { code: 'DEVICE_UNAVAILABLE', suggestion: webgpuFix });
    if (probe.adapter.software) options.onNotice?.(`Device: webgpu on ${adapterName(probe.adapter)}, a software adapter (it computes on the CPU, slower than --device cpu).`);
    return make('webgpu', 'requested', probe.adapter);
  }
  // gpu / auto
  const cuda = await probeCuda();
  if (cuda.available) {
    const choice = make('cuda', wanted === 'gpu' ? 'requested (CUDA provider present)' : 'CUDA provider present');
    if (wanted === 'auto') options.onNotice?.(`Device: cuda (auto: ${choice.record.reason}).`);
    return choice;
  }
  const noNode = allowSoftwareGpu() ? undefined : noGpuDeviceNode();
  const probe: WebGpuProbe = noNode ? { error: `no hardware adapter possible: ${noNode}` } : await probeWebGpu();
  const software = probe.adapter?.software === true;
  if (probe.adapter && (!software || allowSoftwareGpu())) {
    const why = `no CUDA provider; WebGPU adapter ${adapterName(probe.adapter)}${software ? ` (software, allowed by ${ALLOW_SOFTWARE_GPU_ENV})` : ''}`;
    if (wanted === 'auto') options.onNotice?.(`Device: webgpu (auto: ${why}).`);
    return make('webgpu', wanted === 'gpu' ? `requested: ${why}` : why, probe.adapter);
  }
  const webgpuWhy = probe.adapter ? `the only WebGPU adapter, ${adapterName(probe.adapter)}, is a software one (slower than the CPU)` : `no WebGPU adapter (${probe.error})`;
  if (wanted === 'gpu') {
    throw new RuntimeError(`--device gpu: no GPU found: ${cuda.detail}; ${webgpuWhy}.`, {
      code: 'DEVICE_UNAVAILABLE',
      suggestion: probe.adapter
        ? `Use --device webgpu to run on the software adapter anyway (slow), or --device cpu; for a real GPU: ${webgpuFix}`
        : `${noNode ? '--device webgpu runs on a software adapter (lavapipe) if one is installed (slow). ' : ''}${webgpuFix} For CUDA: ${cudaFix}`,
    });
  }
  const reason = `no GPU: ${cuda.detail}; ${webgpuWhy}`;
  options.onNotice?.(`Device: cpu (auto: ${reason}).`);
  return make('cpu', reason);
}

/** Every device found, and what `auto` picks: for `ftk info`. */
export async function listDevices(): Promise<DeviceListing> {
  const { availableParallelism } = await import('node:os');
  const [webgpu, cuda, providers] = await Promise.all([probeWebGpu(), probeCuda(), onnxProvidersSupported()]);
  const auto = await resolveDevice('auto');
  return {
    cpu: { cores: availableParallelism() },
    webgpu: { ...webgpu, onnxProvider: providers.some((p) => p.name === 'webgpu') },
    cuda,
    auto: { provider: auto.provider, reason: auto.record.reason },
    allowSoftware: allowSoftwareGpu(),
  };
}

/** Forgets the probes (tests that change the environment). */
export function resetDeviceProbes(): void {
  webgpuProbe = undefined;
  cudaProbe = undefined;
}

/**
 * `device` as the library options take it: a name (resolved here, with its notice) or a choice a
 * caller already made (auto and bench resolve once and pass the choice to every stage).
 */
export async function chooseDevice(device: DeviceName | DeviceChoice | undefined, options: ResolveDeviceOptions = {}): Promise<DeviceChoice> {
  if (device !== undefined && typeof device === 'object') return device;
  return resolveDevice(device ?? 'auto', options);
}

/** The TF.js backend that trains on a chosen device (see `backendForDevice`); 'auto' on the CPU. */
export async function trainingBackendFor(choice: DeviceChoice): Promise<'auto' | 'webgpu' | 'tensorflow-gpu'> {
  const { backendForDevice } = await import('./backend.js');
  const hasAdapter = choice.provider === 'cuda' ? (await probeWebGpu()).adapter !== undefined : choice.adapter !== undefined;
  return backendForDevice(choice.provider, hasAdapter) as 'auto' | 'webgpu' | 'tensorflow-gpu';
}

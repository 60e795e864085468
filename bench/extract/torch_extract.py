"""PyTorch/torchvision CPU baseline for bench/extract/vs_pytorch.ts (not a test).

The same job as `ftk bottleneck extract`: read each JPEG, PIL decode, resize to 224x224
(torchvision Resize, bilinear), to float tensor + normalize, batch, forward pass under
torch.no_grad(), global average pooled features. Architectures built to match Keras':
- mobilenet: MobileNet v1 (Howard et al.), width alpha, 3x3 depthwise + 1x1 pointwise, ReLU6
  (torchvision has no v1; the layer list is the paper's Table 1, as Keras' mobilenet.py);
- mobilenet_v2: torchvision.models.mobilenet_v2 (the same layers as Keras' MobileNetV2);
- resnet50: torchvision.models.resnet50 with the stride moved from the 3x3 to the first 1x1
  convolution of each downsampling block (ResNet v1, as Keras' ResNet50; torchvision is v1.5).
Random weights: speed does not depend on the values.

Prints one JSON line: images, wall seconds, pipeline images/s (first batch requested to last
features), inference-only images/s on a pre-decoded batch, threads, workers, versions.

  /usr/bin/python3 bench/extract/torch_extract.py --list files.txt --model mobilenet_v2 \
      --threads 2 --workers 2 --batch-size 32
"""
import argparse
import json
import sys
import time
from pathlib import Path

import torch
import torchvision
from torch import nn
from torch.utils.data import DataLoader

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / 'common'))
from torch_images import ImageFiles  # noqa: E402


def conv_bn(inp, out, stride):
    return nn.Sequential(nn.Conv2d(inp, out, 3, stride, 1, bias=False), nn.BatchNorm2d(out), nn.ReLU6(inplace=True))


def conv_dw(inp, out, stride):
    return nn.Sequential(
        nn.Conv2d(inp, inp, 3, stride, 1, groups=inp, bias=False), nn.BatchNorm2d(inp), nn.ReLU6(inplace=True),
        nn.Conv2d(inp, out, 1, 1, 0, bias=False), nn.BatchNorm2d(out), nn.ReLU6(inplace=True),
    )


def mobilenet_v1(alpha):
    blocks = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)] + [(512, 1)] * 5 + [(1024, 2), (1024, 1)]
    layers = [conv_bn(3, int(32 * alpha), 2)]
    inp = int(32 * alpha)
    for filters, stride in blocks:
        out = int(filters * alpha)
        layers.append(conv_dw(inp, out, stride))
        inp = out
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())


def build(name, alpha):
    if name == 'mobilenet':
        return mobilenet_v1(alpha)
    if name == 'mobilenet_v2':
        m = torchvision.models.mobilenet_v2(width_mult=alpha)
        return nn.Sequential(m.features, nn.AdaptiveAvgPool2d(1), nn.Flatten())
    if name == 'resnet50':
        m = torchvision.models.resnet50()
        for layer in (m.layer2, m.layer3, m.layer4):
            block = layer[0]
            block.conv1.stride = (2, 2)
            block.conv2.stride = (1, 1)
        m.fc = nn.Identity()
        return m
    raise SystemExit(f'unknown model {name}')


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--list', required=True)
    p.add_argument('--model', required=True)
    p.add_argument('--alpha', type=float, default=1.0)
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--workers', type=int, default=2)
    p.add_argument('--batch-size', type=int, default=32)
    a = p.parse_args()
    start = time.perf_counter()
    torch.set_num_threads(a.threads)
    with open(a.list) as f:
        files = [line.strip() for line in f if line.strip()]
    model = build(a.model, a.alpha).eval()
    loader = DataLoader(ImageFiles(files), batch_size=a.batch_size, num_workers=a.workers, shuffle=False)
    with torch.no_grad():
        model(torch.zeros(2, 3, 224, 224))  # warm-up (allocations, kernel choice)
        t0 = time.perf_counter()
        n = 0
        dim = 0
        for batch in loader:
            out = model(batch)
            n += out.shape[0]
            dim = out.shape[1]
        pipeline = time.perf_counter() - t0
        wall = time.perf_counter() - start
        x = torch.randn(a.batch_size, 3, 224, 224)
        model(x)
        reps = max(2, 256 // a.batch_size) if a.model != 'resnet50' else 4
        t1 = time.perf_counter()
        for _ in range(reps):
            model(x)
        infer = reps * a.batch_size / (time.perf_counter() - t1)
    print(json.dumps({
        'images': n, 'dim': dim, 'wall': wall, 'pipeline_ips': n / pipeline, 'wall_ips': n / wall,
        'inference_ips': infer, 'threads': torch.get_num_threads(), 'workers': a.workers,
        'torch': torch.__version__, 'torchvision': torchvision.__version__,
    }))


if __name__ == '__main__':
    main()

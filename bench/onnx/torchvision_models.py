"""PyTorch side of bench/onnx/torchvision.ts (a benchmark, not a test).

  export   build a torchvision model with random weights (seeded, eval mode), save its state dict
           and export it to ONNX the way a user would (torch.onnx.export, dynamic batch axis)
  forward  run the same model (state dict) on pixels ftk decoded ([N, H, W, 3] float32 in 0-255,
           .npy), normalised in torch as torchvision does (ToTensor's /255, then ImageNet
           mean/std), up to the pooled features (the classifier replaced by Identity); save .npy
  extract  end-to-end throughput on image files: PIL decode, torchvision Resize (bilinear) +
           ToTensor + Normalize, DataLoader workers, torch.no_grad(); one JSON line

  /usr/bin/python3 bench/onnx/torchvision_models.py export --model resnet18 --out r18.onnx --weights r18.pt
  /usr/bin/python3 bench/onnx/torchvision_models.py forward --model resnet18 --weights r18.pt --pixels px.npy --out f.npy
  /usr/bin/python3 bench/onnx/torchvision_models.py extract --model resnet18 --weights r18.pt --list files.txt
"""
import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torchvision
from torch import nn
from torch.utils.data import DataLoader
from torchvision import transforms

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / 'common'))
from torch_images import ImageFiles, MEAN, STD  # noqa: E402



def build(name):
    if name == 'resnet18':
        return torchvision.models.resnet18(weights=None)
    if name == 'mobilenet_v2':
        return torchvision.models.mobilenet_v2(weights=None)
    raise SystemExit(f'unknown model {name}')


def feature_model(name, weights):
    """The model with its classifier replaced by Identity: the pooled features."""
    m = build(name)
    m.load_state_dict(torch.load(weights))
    if name == 'resnet18':
        m.fc = nn.Identity()
    else:
        m.classifier = nn.Identity()
    return m.eval()


def export(a):
    torch.manual_seed(a.seed)
    m = build(a.model).eval()
    # Non-trivial BatchNorm statistics (random init has mean 0 / var 1, which hides BN mistakes).
    g = torch.Generator().manual_seed(a.seed + 1)
    for mod in m.modules():
        if isinstance(mod, nn.BatchNorm2d):
            mod.running_mean.copy_(torch.rand(mod.num_features, generator=g) * 0.2 - 0.1)
            mod.running_var.copy_(torch.rand(mod.num_features, generator=g) + 0.5)
    torch.save(m.state_dict(), a.weights)
    x = torch.randn(1, 3, 224, 224)
    torch.onnx.export(m, x, a.out, opset_version=a.opset, input_names=['input'], output_names=['logits'],
                      dynamic_axes={'input': {0: 'batch'}, 'logits': {0: 'batch'}})
    print(json.dumps({'onnx': a.out, 'weights': a.weights, 'torch': torch.__version__, 'torchvision': torchvision.__version__}))


def forward(a):
    torch.set_num_threads(a.threads)
    m = feature_model(a.model, a.weights)
    pixels = torch.from_numpy(np.load(a.pixels))  # [N, H, W, 3], 0-255
    x = pixels.permute(0, 3, 1, 2).contiguous() / 255.0
    x = transforms.Normalize(MEAN, STD)(x)
    outs = []
    with torch.no_grad():
        for i in range(0, x.shape[0], 32):
            outs.append(m(x[i:i + 32]))
    np.save(a.out, torch.cat(outs).numpy().astype(np.float32))


def extract(a):
    torch.set_num_threads(a.threads)
    with open(a.list) as f:
        files = [line.strip() for line in f if line.strip()]
    m = feature_model(a.model, a.weights)
    loader = DataLoader(ImageFiles(files), batch_size=a.batch_size, num_workers=a.workers, shuffle=False)
    with torch.no_grad():
        m(torch.zeros(2, 3, 224, 224))  # warm-up
        t0 = time.perf_counter()
        n = 0
        for batch in loader:
            n += m(batch).shape[0]
        pipeline = time.perf_counter() - t0
        x = torch.randn(a.batch_size, 3, 224, 224)
        m(x)
        reps = 6
        t1 = time.perf_counter()
        for _ in range(reps):
            m(x)
        infer = reps * a.batch_size / (time.perf_counter() - t1)
    print(json.dumps({'images': n, 'pipeline_ips': n / pipeline, 'inference_ips': infer, 'threads': torch.get_num_threads(), 'workers': a.workers}))


def main():
    p = argparse.ArgumentParser()
    p.add_argument('command', choices=['export', 'forward', 'extract'])
    p.add_argument('--model', required=True)
    p.add_argument('--weights', required=True)
    p.add_argument('--out')
    p.add_argument('--pixels')
    p.add_argument('--list')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--opset', type=int, default=13)
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--workers', type=int, default=2)
    p.add_argument('--batch-size', type=int, default=32)
    a = p.parse_args()
    {'export': export, 'forward': forward, 'extract': extract}[a.command](a)


if __name__ == '__main__':
    main()

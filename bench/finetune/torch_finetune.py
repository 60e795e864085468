"""PyTorch CPU reference for bench/finetune/throughput.ts (issue 5, acceptance 4). Not a test.

Fine-tunes torchvision's MobileNetV2 (random weights: speed does not depend on the values) the way
a PyTorch user does: frozen layers with requires_grad=False and their BatchNorm in eval mode, the
rest trained with Adam, full forward every step (PyTorch has no frozen-prefix cache), random
horizontal flips on the training batch. Images are decoded and resized once before timing, so
the number is the model's training throughput only (it favours PyTorch: ftk's number includes
decoding, augmentation and the frozen layers).

Keras' MobileNetV2 block_k is torchvision's features[k + 1] (features[0] is the stem Conv1,
features[1] Keras' expanded_conv = block 0, features[18] Keras' Conv_1); "--freeze 14" freezes
the stem and blocks 0-14 as ftk's `--freeze 14` does.

    /usr/bin/python3 bench/finetune/torch_finetune.py --images 256 --epochs 3 --batch 32 --freeze 14 --threads 2

Prints one JSON line.
"""
import argparse
import glob
import json
import os
import time

import torch
import torchvision
from PIL import Image

p = argparse.ArgumentParser()
p.add_argument("--images", type=int, default=256)
p.add_argument("--epochs", type=int, default=3)
p.add_argument("--batch", type=int, default=32)
p.add_argument("--freeze", type=int, default=14)
p.add_argument("--threads", type=int, default=2)
p.add_argument("--size", type=int, default=224)
p.add_argument("--data", default=os.path.join(os.path.dirname(__file__), "../../../shared/datasets/cats-dogs"))
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(0)

files = sorted(glob.glob(os.path.join(a.data, "cats", "*.jpg")))[: a.images // 2] + sorted(glob.glob(os.path.join(a.data, "dogs", "*.jpg")))[: a.images // 2]
labels = torch.tensor([0] * (a.images // 2) + [1] * (a.images // 2))
mean = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
std = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)
t0 = time.time()
xs = []
for f in files:
    img = Image.open(f).convert("RGB").resize((a.size, a.size), Image.BILINEAR)
    x = torch.frombuffer(bytearray(img.tobytes()), dtype=torch.uint8).view(a.size, a.size, 3).permute(2, 0, 1).float() / 255
    xs.append((x - mean) / std)
X = torch.stack(xs)
decode_seconds = time.time() - t0

model = torchvision.models.mobilenet_v2(weights=None)
model.classifier = torch.nn.Sequential(torch.nn.Dropout(0.2), torch.nn.Linear(model.last_channel, 2))
frozen = model.features[: a.freeze + 2]  # stem + blocks 0..freeze
for p_ in frozen.parameters():
    p_.requires_grad_(False)
trainable = [p_ for p_ in model.parameters() if p_.requires_grad]
opt = torch.optim.Adam(trainable, lr=1e-4)
loss_fn = torch.nn.CrossEntropyLoss()


def set_modes():
    model.train()
    frozen.eval()  # frozen BatchNorm in inference mode, as ftk does


def epoch(order):
    for i in range(0, len(order), a.batch):
        idx = order[i : i + a.batch]
        x = X[idx]
        flip = torch.rand(len(idx)) < 0.5
        x[flip] = torch.flip(x[flip], dims=[3])
        opt.zero_grad()
        loss = loss_fn(model(x), labels[idx])
        loss.backward()
        opt.step()


set_modes()
epoch(torch.randperm(len(files))[: a.batch])  # warm-up
t0 = time.time()
for e in range(a.epochs):
    epoch(torch.randperm(len(files)))
seconds = time.time() - t0
print(json.dumps({
    "runtime": f"torch {torch.__version__} cpu, {torch.get_num_threads()} threads",
    "images": len(files),
    "epochs": a.epochs,
    "batch": a.batch,
    "freeze": a.freeze,
    "trainable_params": sum(p_.numel() for p_ in trainable),
    "train_images_per_second": a.epochs * len(files) / seconds,
    "decode_seconds": decode_seconds,
}))

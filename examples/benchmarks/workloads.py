"""PyTorch twin of workloads.cpp: the same five workloads, shapes, initialisation and optimizers.

    /usr/bin/python3 examples/benchmarks/workloads.py --workload W2 --steps 20 --warmup 3 --threads 2

Runs `warmup` untimed steps, then `steps` timed ones, and prints as its last line
RESULT {"impl": "pytorch", "workload": ..., "threads": ..., "times": [seconds per step, ...]}.
run_benchmarks.py launches this program and the semiseg one alternately and compares them.

W1  MLP 784-5000-10, one Pseudo-Label SGD step (32 labeled + 256 unlabeled samples)
W2  2D U-Net (base 16) on 64x64, one Mean Teacher step (8 labeled + 8 unlabeled), Adam
W3  3D U-Net (base 8) on 32^3, batch 2, one supervised step, Adam
W4  Conv2d 64->64 3x3 on 8x64x64x64, forward + backward (input, weight and bias gradients)
W5  W2's 2D U-Net, inference on one 256x256 image
"""
import argparse
import copy
import json
import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn

CLASSES = 4


def add_blocks(module, dim, cin, cout):
    """Registers conv1, bn1, conv2, bn2: two blocks of [conv 3x3 (no bias) -> BatchNorm -> ReLU]."""
    conv = nn.Conv2d if dim == 2 else nn.Conv3d
    bn = nn.BatchNorm2d if dim == 2 else nn.BatchNorm3d
    module.conv1 = conv(cin, cout, 3, padding=1, bias=False)
    module.bn1 = bn(cout, eps=1e-5, momentum=0.1)
    module.conv2 = conv(cout, cout, 3, padding=1, bias=False)
    module.bn2 = bn(cout, eps=1e-5, momentum=0.1)


def run_blocks(module, x):
    x = F.relu(module.bn1(module.conv1(x)))
    return F.relu(module.bn2(module.conv2(x)))


class Level(nn.Module):
    """Encoder level: the two blocks."""

    def __init__(self, dim, cin, cout):
        super().__init__()
        add_blocks(self, dim, cin, cout)

    def forward(self, x):
        return run_blocks(self, x)


class UpLevel(nn.Module):
    """Decoder level: transposed conv 2x2 stride 2, concatenation [skip, up], the two blocks."""

    def __init__(self, dim, cin, cout):
        super().__init__()
        self.up = (nn.ConvTranspose2d if dim == 2 else nn.ConvTranspose3d)(cin, cout, 2, stride=2)
        add_blocks(self, dim, 2 * cout, cout)

    def forward(self, x, skip):
        return run_blocks(self, torch.cat([skip, self.up(x)], 1))


class UNet(nn.Module):
    """Three resolution levels (channels b, 2b, 4b), two max-pool down-samplings, 1x1 head."""

    def __init__(self, dim, base, in_channels=1, classes=CLASSES):
        super().__init__()
        channels = [base, 2 * base, 4 * base]
        self.encoder = nn.ModuleList(
            [Level(dim, in_channels if i == 0 else channels[i - 1], channels[i]) for i in range(3)])
        self.decoder = nn.ModuleList([UpLevel(dim, channels[i + 1], channels[i]) for i in (1, 0)])
        self.head = (nn.Conv2d if dim == 2 else nn.Conv3d)(base, classes, 1)
        self.pool = F.max_pool2d if dim == 2 else F.max_pool3d

    def forward(self, x):
        skips = []
        for i, level in enumerate(self.encoder):
            x = level(x)
            if i < 2:
                skips.append(x)
                x = self.pool(x, 2, 2)
        for level, skip in zip(self.decoder, reversed(skips)):
            x = level(x, skip)
        return self.head(x)


def pseudo_label_step():
    """W1: MLP 784-5000-10, loss = CE(labeled) + 3 * CE(unlabeled, argmax pseudo-labels), SGD."""
    model = nn.Sequential(nn.Linear(784, 5000), nn.ReLU(), nn.Dropout(0.5), nn.Linear(5000, 10))
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x_l, y_l = torch.rand(32, 784), torch.randint(0, 10, (32,))
    x_u = torch.rand(256, 784)

    def step():
        logits_l = model(x_l)
        logits_u = model(x_u)
        pseudo = logits_u.argmax(1).detach()
        loss = F.cross_entropy(logits_l, y_l) + 3.0 * F.cross_entropy(logits_u, pseudo)
        optimizer.zero_grad(set_to_none=False)
        loss.backward()
        optimizer.step()

    return step


def mean_teacher_step():
    """W2: 2D U-Net, CE on the labeled half + mean squared softmax difference to the teacher, Adam,
    then EMA of the parameters (0.99) and a copy of the BatchNorm buffers into the teacher."""
    student = UNet(2, 16)
    teacher = copy.deepcopy(student)
    student.train()
    teacher.train()
    for p in teacher.parameters():
        p.requires_grad_(False)
    optimizer = torch.optim.Adam(student.parameters(), lr=1e-3)
    s_params, t_params = list(student.parameters()), list(teacher.parameters())
    s_buffers, t_buffers = list(student.buffers()), list(teacher.buffers())
    x = torch.rand(16, 1, 64, 64)  # 8 labeled images, then 8 unlabeled ones
    y_l = torch.randint(0, CLASSES, (8, 64, 64))

    def step():
        s = student(x)
        with torch.no_grad():
            t = teacher(x)
        consistency = ((torch.softmax(s, 1) - torch.softmax(t, 1)) ** 2).mean()
        loss = F.cross_entropy(s[:8], y_l) + 1.0 * consistency
        optimizer.zero_grad(set_to_none=False)
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            torch._foreach_mul_(t_params, 0.99)
            torch._foreach_add_(t_params, s_params, alpha=0.01)
            for tb, sb in zip(t_buffers, s_buffers):
                tb.copy_(sb)

    return step


def supervised_3d_step():
    """W3: 3D U-Net, batch 2 of 32^3, cross-entropy, Adam."""
    model = UNet(3, 8)
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.rand(2, 1, 32, 32, 32)
    y = torch.randint(0, CLASSES, (2, 32, 32, 32))

    def step():
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad(set_to_none=False)
        loss.backward()
        optimizer.step()

    return step


def conv_step():
    """W4: one convolution forward + backward with a fixed output gradient."""
    conv = nn.Conv2d(64, 64, 3, padding=1)
    x = torch.rand(8, 64, 64, 64).requires_grad_(True)
    dy = torch.rand(8, 64, 64, 64) - 0.5

    def step():
        conv.zero_grad(set_to_none=False)
        x.grad = None
        conv(x).backward(dy)

    return step


def inference_step():
    """W5: W2's U-Net in eval mode on one 256x256 image."""
    model = UNet(2, 16)
    model.eval()
    x = torch.rand(1, 1, 256, 256)

    def step():
        with torch.inference_mode():
            model(x)

    return step


WORKLOADS = {"W1": pseudo_label_step, "W2": mean_teacher_step, "W3": supervised_3d_step,
             "W4": conv_step, "W5": inference_step}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workload", required=True, choices=sorted(WORKLOADS))
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    step = WORKLOADS[args.workload]()
    for _ in range(args.warmup):
        step()
    times = []
    for _ in range(args.steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    print(f"pytorch {torch.__version__} {args.workload}: {args.threads} threads, median "
          f"{statistics.median(times) * 1e3:.2f} ms over {args.steps} steps")
    result = {"impl": "pytorch", "workload": args.workload, "threads": args.threads, "times": times}
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""Reference data for tests/backbone/branched_erfnet.cpp: EmbedSeg's BranchedERFNet in PyTorch.

Run with Debian's system interpreter (it has torch 1.13 and numpy):

    /usr/bin/python3 tools/parity/branched_erfnet.py            # counts; rewrites the fixtures
    /usr/bin/python3 tools/parity/branched_erfnet.py --names    # also the parameter names, in order
    /usr/bin/python3 tools/parity/branched_erfnet.py --dry-run  # counts and checks, writes nothing

The network is the one of include/semiseg/backbone/branched_erfnet.hpp: the Encoder and Decoder
modules of tools/parity/erfnet.py (registered in the C++ parameter order, under the same names),
one encoder and two decoders in an nn.ModuleList `decoders`: decoders.0 makes 2·S channels (S
offsets, then S sigmas), decoders.1 makes one (the seed map); the output is the two decoder
outputs concatenated along the channels. init_output() is EmbedSeg's output initialisation.

The fixtures go to tests/fixtures/branched_erfnet/<case>/ (the script deletes its case folders
first and is deterministic); tests/fixtures/branched_erfnet/README.md lists the files.
"""

import math
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from erfnet import Decoder, Encoder, options  # noqa: E402  (also sets float64 as the default dtype)

torch.set_default_dtype(torch.float64)

ROOT = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "branched_erfnet"


class BranchedERFNet(nn.Module):
    """One shared encoder, decoders.0 with 2·d channels (offsets, sigmas), decoders.1 with one (seed)."""

    def __init__(self, d, o):
        super().__init__()
        self.d = d
        self.encoder = Encoder(d, o)
        self.decoders = nn.ModuleList([Decoder(d, o, 2 * d), Decoder(d, o, 1)])

    def init_output(self):
        """EmbedSeg's init_output: offsets and sigmas start at exactly 0 and 1."""
        conv = self.decoders[0].output_conv  # weight [in, out = 2·d, k...]
        with torch.no_grad():
            conv.weight.zero_()
            conv.bias[:self.d].fill_(0.0)
            conv.bias[self.d:2 * self.d].fill_(1.0)

    def forward(self, x):
        features = self.encoder(x)
        return torch.cat([decoder(features) for decoder in self.decoders], 1)


def counts(m):
    params = sum(p.numel() for p in m.parameters())
    buffers = sum(b.numel() for b in m.buffers() if b.is_floating_point())
    return params, buffers


def tiny(in_channels, widths):
    return options(in_channels=in_channels, widths=widths, stage2_blocks=1, stage2_dropout=0.0, stage3_repeats=1,
                   dilations=(2, 4), stage3_dropout=0.0, decoder_blocks=1)


COUNT_CASES = [
    ("defaults", options()),
    ("tiny", tiny(2, (4, 6, 8))),
]

# The fixture cases: (folder, dimension, options, input shape, seed). Small, so that the files
# stay small: the 3D output alone is 2·7·8·8·8 values.
FIXTURE_CASES = [
    ("2d_tiny", 2, tiny(2, (3, 4, 6)), (2, 2, 16, 16), 1),
    ("3d_tiny", 3, tiny(1, (2, 3, 4)), (2, 1, 8, 8, 8), 2),
]


def save(path, name, value):
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    np.save(path / f"{name}.npy", np.ascontiguousarray(np.asarray(value, dtype=np.float64)))


def check_init_output(d, o, shape):
    """After init_output, channels [0, d) are exactly 0 and [d, 2d) exactly 1, in both modes."""
    torch.manual_seed(0)
    m = BranchedERFNet(d, o)
    m.init_output()
    x = torch.randn(*shape)
    for train in (True, False):
        m.train(train)
        with torch.no_grad():
            y = m(x)
        assert y.shape[1] == 2 * d + 1
        assert bool((y[:, :d] == 0).all()) and bool((y[:, d:2 * d] == 1).all())
        assert float(y[:, 2 * d].std()) > 0


def make_case(folder, d, o, shape, seed, write):
    torch.manual_seed(seed)
    m = BranchedERFNet(d, o)
    # PyTorch's default initialisation, without init_output (whose zero weights would stop every
    # gradient into decoder 0), and BatchNorm affine parameters moved away from 1 and 0.
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, nn.modules.batchnorm._BatchNorm):
                mod.weight.copy_(1.0 + 0.2 * torch.randn_like(mod.weight))
                mod.bias.copy_(0.2 * torch.randn_like(mod.bias))
    params = torch.cat([p.detach().flatten() for p in m.parameters()])
    x = torch.randn(*shape).requires_grad_()
    m.train()
    y = m(x)
    dy = torch.randn_like(y)
    y.backward(dy)
    dparams = torch.cat([p.grad.flatten() for p in m.parameters()])
    running = torch.cat([b.flatten() for b in m.buffers() if b.is_floating_point()])
    config = [o["in_channels"], *o["widths"], o["stage2_blocks"], o["stage3_repeats"], o["decoder_blocks"],
              o["momentum"], o["eps"], *o["dilations"]]
    files = dict(config=config, x=x, params=params, y=y, dy=dy, dx=x.grad, dparams=dparams, running_after=running)
    print("fixture %s: %dD input %s, output %s, parameters %d, buffers %d" %
          (folder, d, list(shape), list(y.shape), params.numel(), running.numel()))
    if write:
        path = ROOT / folder
        path.mkdir(parents=True)
        for name, value in files.items():
            save(path, name, value)


def main():
    write = "--dry-run" not in sys.argv
    for name, o in COUNT_CASES:
        p2, b2 = counts(BranchedERFNet(2, o))
        p3, b3 = counts(BranchedERFNet(3, o))
        assert b2 == b3
        print("counts %s: parameters 2D %d, 3D %d; buffers %d" % (name, p2, p3, b2))
    for folder, d, o, shape, _ in FIXTURE_CASES:
        check_init_output(d, o, shape)
    if write:
        for entry in ROOT.glob("*_tiny"):
            shutil.rmtree(entry)
    for case in FIXTURE_CASES:
        make_case(*case, write)
    if write:
        files = list(ROOT.rglob("*.npy"))
        total = sum(f.stat().st_size for f in files)
        print("wrote %d files, %.1f KiB, under %s" % (len(files), total / 1024, ROOT))
    if "--names" in sys.argv:
        for d in (2, 3):
            print("names %dD:" % d)
            for n, p in BranchedERFNet(d, FIXTURE_CASES[0][2]).named_parameters():
                print("  branched_erfnet." + n, p.numel())


if __name__ == "__main__":
    main()

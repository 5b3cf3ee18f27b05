#!/usr/bin/python3
"""Reference numbers for tests/backbone/erfnet.cpp: ERFNet (2D and 3D) in PyTorch, float64.

Run with Debian's system interpreter (it has torch 1.13):

    /usr/bin/python3 tools/parity/erfnet.py            # counts and parity numbers
    /usr/bin/python3 tools/parity/erfnet.py --names    # also the parameter names, in order

The network is the one of include/semiseg/backbone/erfnet.hpp, written as an nn.Module whose
modules are registered in the C++ parameter order (and under the same names), so the flat
parameter vector of both programs has one layout. Nothing is random: parameter i of the flat
vector is 0.4·sin(1.3·i + 0.5), x[i] = cos(0.37·i), dy[i] = sin(0.11·i). The script prints, per
case, y in train mode at a few indices, Σy², then after that one train step (which moved the
running statistics) the eval-mode Σy² and y[0], and the summaries <dx, c> with c[i] = sin(0.05·i)
and <dparameters, c> with c[i] = sin(0.07·i).
"""

import math
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)


def conv_cls(d):
    return nn.Conv2d if d == 2 else nn.Conv3d


def bn(d, ch, o):
    return (nn.BatchNorm2d if d == 2 else nn.BatchNorm3d)(ch, eps=o["eps"], momentum=o["momentum"])


class Down(nn.Module):
    """[conv 3 stride 2 pad 1 (out - in channels), max-pool 2] -> BN -> ReLU."""

    def __init__(self, d, cin, cout, o):
        super().__init__()
        self.conv = conv_cls(d)(cin, cout - cin, 3, stride=2, padding=1, bias=True)
        self.pool = (nn.MaxPool2d if d == 2 else nn.MaxPool3d)(2, stride=2)
        self.bn = bn(d, cout, o)

    def forward(self, x):
        return F.relu(self.bn(torch.cat([self.conv(x), self.pool(x)], 1)))


class NonBottleneck(nn.Module):
    """Two halves of factorised convs (kernel 3 along one axis), the second dilated."""

    def __init__(self, d, ch, p, dilation, o):
        super().__init__()
        self.d = d
        self.names = []
        for half in (1, 2):
            dil = 1 if half == 1 else dilation
            for axis in range(d):
                k = tuple(3 if a == axis else 1 for a in range(d))
                pad = tuple(dil if a == axis else 0 for a in range(d))
                dl = tuple(dil if a == axis else 1 for a in range(d))
                name = "conv" + "x".join("3" if a == axis else "1" for a in range(d)) + "_%d" % half
                setattr(self, name, conv_cls(d)(ch, ch, k, padding=pad, dilation=dl, bias=True))
                self.names.append(name)
            setattr(self, "bn%d" % half, bn(d, ch, o))
        self.dropout = (nn.Dropout2d if d == 2 else nn.Dropout3d)(p) if p > 0 else None

    def forward(self, x):
        h = x
        for half in (0, 1):
            for axis in range(self.d):
                h = getattr(self, self.names[half * self.d + axis])(h)
                if axis + 1 < self.d:
                    h = F.relu(h)
            h = getattr(self, "bn%d" % (half + 1))(h)
            if half == 0:
                h = F.relu(h)
        if self.dropout is not None:
            h = self.dropout(h)
        return F.relu(h + x)


class Up(nn.Module):
    def __init__(self, d, cin, cout, o):
        super().__init__()
        ct = nn.ConvTranspose2d if d == 2 else nn.ConvTranspose3d
        self.conv = ct(cin, cout, 3, stride=2, padding=1, output_padding=1, bias=True)
        self.bn = bn(d, cout, o)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


class Encoder(nn.Module):
    def __init__(self, d, o):
        super().__init__()
        w = o["widths"]
        self.initial_block = Down(d, o["in_channels"], w[0], o)
        layers = [Down(d, w[0], w[1], o)]
        layers += [NonBottleneck(d, w[1], o["stage2_dropout"], 1, o) for _ in range(o["stage2_blocks"])]
        layers.append(Down(d, w[1], w[2], o))
        for _ in range(o["stage3_repeats"]):
            layers += [NonBottleneck(d, w[2], o["stage3_dropout"], dil, o) for dil in o["dilations"]]
        self.layers = nn.ModuleList(layers)

    def forward(self, x):
        x = self.initial_block(x)
        for layer in self.layers:
            x = layer(x)
        return x


class Decoder(nn.Module):
    def __init__(self, d, o, classes):
        super().__init__()
        w = o["widths"]
        layers = [Up(d, w[2], w[1], o)]
        layers += [NonBottleneck(d, w[1], 0.0, 1, o) for _ in range(o["decoder_blocks"])]
        layers.append(Up(d, w[1], w[0], o))
        layers += [NonBottleneck(d, w[0], 0.0, 1, o) for _ in range(o["decoder_blocks"])]
        self.layers = nn.ModuleList(layers)
        ct = nn.ConvTranspose2d if d == 2 else nn.ConvTranspose3d
        self.output_conv = ct(w[0], classes, 2, stride=2, padding=0, output_padding=0, bias=True)

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return self.output_conv(x)


class ERFNet(nn.Module):
    def __init__(self, d, o):
        super().__init__()
        self.encoder = Encoder(d, o)
        self.decoder = Decoder(d, o, o["classes"])

    def forward(self, x):
        return self.decoder(self.encoder(x))


# ERFNetOptions{} of the C++ side.
DEFAULTS = dict(in_channels=1, classes=2, widths=(16, 64, 128), stage2_blocks=5, stage2_dropout=0.03,
                stage3_repeats=2, dilations=(2, 4, 8, 16), stage3_dropout=0.3, decoder_blocks=2,
                momentum=0.1, eps=1e-3)


def options(**kw):
    o = dict(DEFAULTS)
    o.update(kw)
    return o


def counts(m):
    params = sum(p.numel() for p in m.parameters())
    buffers = sum(b.numel() for b in m.buffers() if b.is_floating_point())
    return params, buffers


COUNT_CASES = [
    ("defaults", options()),
    ("EmbedSeg offsets, 3 channels in", options(in_channels=3, classes=4)),
    ("tiny", options(in_channels=2, classes=3, widths=(4, 6, 8), stage2_blocks=1, stage3_repeats=1,
                     dilations=(2, 4), decoder_blocks=1)),
]

# The parity network: small widths, one block per stage, no dropout.
TINY = options(in_channels=2, classes=3, widths=(4, 6, 8), stage2_blocks=1, stage2_dropout=0.0, stage3_repeats=1,
               dilations=(2, 4), stage3_dropout=0.0, decoder_blocks=1)
PARITY_CASES = [(2, (2, 2, 16, 16)), (3, (2, 2, 8, 8, 16))]


def seq(n, a, b, scale=1.0):
    return torch.tensor([scale * math.sin(a * i + b) for i in range(n)])


def parity(d, shape):
    m = ERFNet(d, TINY)
    P = sum(p.numel() for p in m.parameters())
    flat = seq(P, 1.3, 0.5, 0.4)
    off = 0
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(flat[off:off + p.numel()].view_as(p))
            off += p.numel()
    n = math.prod(shape)
    x = torch.tensor([math.cos(0.37 * i) for i in range(n)]).view(shape).requires_grad_()
    m.train()
    y = m(x)
    dy = seq(y.numel(), 0.11, 0.0).view_as(y)
    y.backward(dy)
    gp = torch.cat([p.grad.flatten() for p in m.parameters()])
    m.eval()
    with torch.no_grad():
        ye = m(x.detach())
    yf, yef = y.detach().flatten(), ye.flatten()
    print("parity %dD input %s: parameters %d" % (d, list(shape), P))
    print("  y0 %.12g, y37 %.12g, ylast %.12g" % (yf[0], yf[37], yf[-1]))
    print("  sum y^2 %.12g, eval sum y^2 %.12g, eval y0 %.12g" % ((yf ** 2).sum(), (yef ** 2).sum(), yef[0]))
    print("  <dx,c> %.12g, <dp,c> %.12g" % ((x.grad.flatten() * seq(n, 0.05, 0.0)).sum(),
                                          (gp * seq(P, 0.07, 0.0)).sum()))


def main():
    for name, o in COUNT_CASES:
        p2, b2 = counts(ERFNet(2, o))
        p3, b3 = counts(ERFNet(3, o))
        assert b2 == b3
        print("counts %s: parameters 2D %d, 3D %d; buffers %d" % (name, p2, p3, b2))
    for d, shape in PARITY_CASES:
        parity(d, shape)
    if "--names" in sys.argv:
        for d in (2, 3):
            print("names %dD:" % d)
            for n, p in ERFNet(d, TINY).named_parameters():
                print("  erfnet." + n, p.numel())


if __name__ == "__main__":
    main()

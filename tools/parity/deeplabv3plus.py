#!/usr/bin/python3
"""PyTorch reference numbers for tests/backbone/deeplabv3plus.cpp.

Builds semiseg's DeepLabV3Plus (include/semiseg/backbone/deeplabv3plus.hpp) as a PyTorch
nn.Module in float64, with its modules registered in semiseg's parameter order, and prints
  * the parameter and floating-point buffer counts of the networks of the count test, and
  * the parity numbers of the tiny networks of the parity test: parameter i (in the flat order)
    = 0.4·sin(1.3·i + 0.5), x[i] = cos(0.37·i), dy[i] = sin(0.11·i); y in train mode, then
    eval mode after that one step; <dx, c> with c[i] = sin(0.05·i) and <dparameters, c> with
    c[i] = sin(0.07·i).
Run with Debian's PyTorch (1.13): /usr/bin/python3 tools/parity/deeplabv3plus.py
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)


def make_conv(d, *args, **kwargs):
    return (nn.Conv2d if d == 2 else nn.Conv3d)(*args, **kwargs)


class Unit(nn.Module):
    """conv k×k without bias (or depthwise k×k + pointwise 1×1) → norm → optional ReLU."""

    def __init__(self, d, o, cin, cout, k=1, stride=1, dil=1, sep=False, relu=True):
        super().__init__()
        pad = dil * (k // 2)
        self.sep, self.relu = sep, relu
        if sep:
            self.depthwise = make_conv(d, cin, cin, k, stride, pad, dil, groups=cin, bias=False)
            self.pointwise = make_conv(d, cin, cout, 1, bias=False)
        else:
            self.conv = make_conv(d, cin, cout, k, stride, pad, dil, bias=False)
        if o['norm'] == 'batch':
            self.norm = (nn.BatchNorm2d if d == 2 else nn.BatchNorm3d)(cout, momentum=0.1)
        else:
            self.norm = nn.GroupNorm(o['groups'], cout)

    def forward(self, x):
        x = self.pointwise(self.depthwise(x)) if self.sep else self.conv(x)
        x = self.norm(x)
        return F.relu(x) if self.relu else x


class Block(nn.Module):
    """torchvision's BasicBlock / Bottleneck (stride on the 3×3 conv), with the block's dilation."""

    def __init__(self, d, o, bottleneck, cin, planes, stride, dil):
        super().__init__()
        out = 4 * planes if bottleneck else planes
        if bottleneck:
            self.block1 = Unit(d, o, cin, planes, 1)
            self.block2 = Unit(d, o, planes, planes, 3, stride, dil)
            self.block3 = Unit(d, o, planes, out, 1, relu=False)
            self.units = ['block1', 'block2', 'block3']
        else:
            self.block1 = Unit(d, o, cin, planes, 3, stride, dil)
            self.block2 = Unit(d, o, planes, out, 3, 1, dil, relu=False)
            self.units = ['block1', 'block2']
        self.downsample = Unit(d, o, cin, out, 1, stride, relu=False) if stride != 1 or cin != out else None

    def forward(self, x):
        h = x
        for u in self.units:
            h = getattr(self, u)(h)
        return F.relu(h + (self.downsample(x) if self.downsample is not None else x))


class DeepLabV3Plus(nn.Module):
    def __init__(self, d, o):
        super().__init__()
        self.d, self.o = d, o
        bottleneck = o['layers'] == 50
        exp = 4 if bottleneck else 1
        counts = [2, 2, 2, 2] if o['layers'] == 18 else [3, 4, 6, 3]
        dilate = [False, False, o['os'] == 8, True]
        base = o['base']
        self.stem = Unit(d, o, o['cin'], base, 7, 2)
        self.layers = nn.ModuleList()
        cin, dil = base, 1
        for stage in range(4):
            planes = base << stage
            stride = 1 if stage == 0 else 2
            previous = dil
            if dilate[stage]:
                dil *= stride
                stride = 1
            blocks = nn.ModuleList()
            for b in range(counts[stage]):
                blocks.append(Block(d, o, bottleneck, cin, planes, stride if b == 0 else 1, previous if b == 0 else dil))
                cin = planes * exp
            self.layers.append(blocks)
        A = o['aspp']
        self.branch0 = Unit(d, o, cin, A, 1)
        self.branch1 = Unit(d, o, cin, A, 3, 1, o['rates'][0], o['sep'])
        self.branch2 = Unit(d, o, cin, A, 3, 1, o['rates'][1], o['sep'])
        self.branch3 = Unit(d, o, cin, A, 3, 1, o['rates'][2], o['sep'])
        self.pool = Unit(d, o, cin, A, 1)
        self.project = Unit(d, o, 5 * A, A, 1)
        self.dropout = nn.Dropout(o['dropout'])
        self.low_level = Unit(d, o, base * exp, o['low'], 1)
        self.conv1 = Unit(d, o, A + o['low'], o['dec'], 3, sep=o['sep'])
        self.conv2 = Unit(d, o, o['dec'], o['dec'], 3, sep=o['sep'])
        self.head = make_conv(d, o['dec'], o['classes'], 1)

    def forward(self, x):
        mode = 'bilinear' if self.d == 2 else 'trilinear'
        ac = self.o['align_corners']
        h = F.max_pool2d(self.stem(x), 3, 2, 1) if self.d == 2 else F.max_pool3d(self.stem(x), 3, 2, 1)
        low = None
        for i, blocks in enumerate(self.layers):
            for b in blocks:
                h = b(h)
            if i == 0:
                low = h
        mean = h.mean(dim=tuple(range(2, h.dim())), keepdim=True)
        pooled = self.pool(mean).expand(-1, -1, *h.shape[2:])
        a = torch.cat([self.branch0(h), self.branch1(h), self.branch2(h), self.branch3(h), pooled], 1)
        a = self.dropout(self.project(a))
        a = F.interpolate(a, size=low.shape[2:], mode=mode, align_corners=ac)
        h = self.conv2(self.conv1(torch.cat([a, self.low_level(low)], 1)))
        return F.interpolate(self.head(h), size=x.shape[2:], mode=mode, align_corners=ac)


def options(**kw):
    o = dict(cin=3, classes=21, layers=50, base=64, os=16, rates=(6, 12, 18), aspp=256, low=48, dec=256, sep=False,
             align_corners=True, norm='batch', groups=8, dropout=0.5)
    o.update(kw)
    return o


def counts(d, o):
    m = DeepLabV3Plus(d, o)
    params = sum(p.numel() for p in m.parameters())
    buffers = sum(b.numel() for b in m.buffers() if b.is_floating_point())
    return params, buffers


def seq(n, a, b, scale=1.0):
    return torch.tensor([scale * math.sin(a * i + b) for i in range(n)])


def parity(name, d, o, shape):
    m = DeepLabV3Plus(d, o)
    P = sum(p.numel() for p in m.parameters())
    flatp = seq(P, 1.3, 0.5, 0.4)
    off = 0
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(flatp[off:off + p.numel()].view_as(p))
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
    print(f'{name}: P {P} y[0] {float(yf[0]):.12g} y[37] {float(yf[37]):.12g} y[last] {float(yf[-1]):.12g} '
          f'sum_sq {float((yf ** 2).sum()):.12g} eval_sum_sq {float((yef ** 2).sum()):.12g} '
          f'eval_y0 {float(yef[0]):.12g} dx_dot {float((x.grad.flatten() * seq(n, 0.05, 0.0)).sum()):.12g} '
          f'dp_dot {float((gp * seq(P, 0.07, 0.0)).sum()):.12g}')


def main():
    # The count test: (options, 2D and 3D counts, buffers).
    count_cases = [
        ('defaults (2D only)', options(), False),
        ('r18 base 8 os8', options(cin=1, classes=2, layers=18, base=8, os=8, aspp=16, low=8, dec=16), True),
        ('r34 base 4 sep group', options(cin=2, classes=3, layers=34, base=4, aspp=8, low=4, dec=8, sep=True,
                                         norm='group', groups=4, rates=(12, 24, 36)), True),
        ('r50 base 4 sep', options(cin=3, classes=4, layers=50, base=4, aspp=16, low=8, dec=16, sep=True), True),
    ]
    for name, o, three_d in count_cases:
        p2, b2 = counts(2, o)
        line = f'counts {name}: params2d {p2} buffers {b2}'
        if three_d:
            p3, b3 = counts(3, o)
            assert b3 == b2
            line += f' params3d {p3}'
        print(line)
    # The parity test: tiny networks, dropout off.
    tiny = dict(cin=2, classes=3, aspp=8, low=4, dec=8, dropout=0.0)
    parity('2d r18 os16 batch', 2,
           options(**tiny, layers=18, base=4, os=16, rates=(1, 2, 3)), (2, 2, 32, 32))
    parity('2d r50 os8 group separable align_corners=False', 2,
           options(**tiny, layers=50, base=2, os=8, rates=(2, 4, 6), norm='group', groups=2, sep=True,
                   align_corners=False), (2, 2, 16, 16))
    parity('3d r18 os8 batch separable', 3,
           options(**dict(tiny, aspp=4, low=2, dec=4), layers=18, base=2, os=8, rates=(1, 2, 3), sep=True),
           (2, 2, 16, 16, 16))


if __name__ == '__main__':
    main()

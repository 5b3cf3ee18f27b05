#!/usr/bin/python3
"""Write the float64 reference fixtures that the semiseg C++ tests compare against.

Run from anywhere with Debian's system interpreter (it has torch and numpy):

    /usr/bin/python3 tools/make_fixtures.py [GROUP ...]

With GROUP names (for example `spatial_embedding` or `conv`) only those groups are rewritten.
Output goes to tests/fixtures/<layer>/<case>/<name>.npy; see tests/fixtures/README.md
for the layout of every config.npy. The script is deterministic: each case seeds
torch from a fixed base plus a checksum of its "<layer>/<case>" name, so adding or
removing one case does not change the others. Directories owned by this script are
deleted before they are written again.
"""

import argparse
import shutil
import zlib
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent / "tests" / "fixtures"
BASE_SEED = 20240611
N = 2  # batch size of every spatial case

torch.set_default_dtype(torch.float64)


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------

def start_case(layer, case):
    """Seed torch for one case and return its (fresh, empty) output directory."""
    torch.manual_seed(BASE_SEED + zlib.crc32(f"{layer}/{case}".encode()))
    path = ROOT / layer / case
    path.mkdir(parents=True, exist_ok=False)
    return path


def randn(*shape):
    return torch.randn(*shape, dtype=torch.float64)


def save(path, name, value):
    """Save one array as a C-contiguous float64 .npy file."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    array = np.ascontiguousarray(np.asarray(value, dtype=np.float64))
    np.save(path / f"{name}.npy", array)


def run_case(path, config, forward, leaves, extra=None):
    """Run forward and backward with a standard normal upstream gradient, save all.

    leaves: dict of name -> tensor (inputs such as x, x0, x1 and parameters w, b).
    Each one is saved under its name and its gradient under "d" + name.
    forward: callable taking the leaves dict and returning y.
    extra: dict of name -> tensor saved after the forward pass (e.g. running stats
    that the forward pass updates in place).
    """
    for tensor in leaves.values():
        tensor.requires_grad_(True)
    y = forward(leaves)
    dy = randn(*y.shape)
    y.backward(dy)

    save(path, "config", config)
    for name, tensor in leaves.items():
        save(path, name, tensor)
        save(path, "d" + name, tensor.grad)
    save(path, "y", y)
    save(path, "dy", dy)
    for name, tensor in (extra or {}).items():
        save(path, name, tensor)


def spatial_cases(cases):
    """Yield (case name, S, params) for every case given as name -> (params_2d, params_3d)."""
    for name, (p2, p3) in cases.items():
        yield f"2d_{name}", 2, p2
        yield f"3d_{name}", 3, p3


def conv_fn(S):
    return F.conv2d if S == 2 else F.conv3d


def tuple_or_none(values):
    return tuple(values) if values is not None else None


# Default spatial sizes: small, non-square, mixed parity.
SP = {2: (7, 6), 3: (5, 6, 4)}


# ---------------------------------------------------------------------------
# Convolution
# ---------------------------------------------------------------------------

def make_conv():
    layer = "conv"
    # params: cin, cout, groups, bias, spatial, k, stride, pad_lo, pad_hi, dilation
    cases = {
        "basic": (
            dict(cin=3, cout=4, g=1, bias=1, sp=(7, 6), k=(3, 3), s=(1, 1), lo=(1, 1), hi=(1, 1), d=(1, 1)),
            dict(cin=3, cout=4, g=1, bias=1, sp=(5, 6, 4), k=(3, 3, 3), s=(1, 1, 1), lo=(1, 1, 1), hi=(1, 1, 1), d=(1, 1, 1)),
        ),
        "stride2": (
            dict(cin=3, cout=4, g=1, bias=1, sp=(9, 7), k=(3, 3), s=(2, 2), lo=(1, 1), hi=(1, 1), d=(1, 1)),
            dict(cin=3, cout=4, g=1, bias=1, sp=(5, 7, 3), k=(3, 3, 3), s=(2, 2, 2), lo=(1, 1, 1), hi=(1, 1, 1), d=(1, 1, 1)),
        ),
        "dilation2": (
            dict(cin=3, cout=2, g=1, bias=0, sp=(9, 8), k=(3, 3), s=(1, 1), lo=(2, 2), hi=(2, 2), d=(2, 2)),
            dict(cin=3, cout=2, g=1, bias=0, sp=(7, 5, 6), k=(3, 3, 3), s=(1, 1, 1), lo=(2, 2, 2), hi=(2, 2, 2), d=(2, 2, 2)),
        ),
        "groups2": (
            dict(cin=4, cout=6, g=2, bias=1, sp=(7, 6), k=(3, 2), s=(1, 2), lo=(1, 0), hi=(1, 0), d=(1, 1)),
            dict(cin=4, cout=6, g=2, bias=1, sp=(5, 6, 5), k=(3, 2, 1), s=(1, 2, 2), lo=(1, 0, 0), hi=(1, 0, 0), d=(1, 1, 1)),
        ),
        "asympad": (
            dict(cin=2, cout=3, g=1, bias=1, sp=(7, 6), k=(3, 3), s=(1, 1), lo=(1, 0), hi=(0, 2), d=(1, 1)),
            dict(cin=2, cout=3, g=1, bias=1, sp=(5, 6, 4), k=(3, 3, 3), s=(1, 1, 1), lo=(1, 0, 2), hi=(0, 2, 1), d=(1, 1, 1)),
        ),
        "k1": (
            dict(cin=5, cout=3, g=1, bias=1, sp=(7, 6), k=(1, 1), s=(1, 1), lo=(0, 0), hi=(0, 0), d=(1, 1)),
            dict(cin=5, cout=3, g=1, bias=1, sp=(5, 6, 4), k=(1, 1, 1), s=(1, 1, 1), lo=(0, 0, 0), hi=(0, 0, 0), d=(1, 1, 1)),
        ),
    }
    for case, S, p in spatial_cases(cases):
        path = start_case(layer, case)
        leaves = {
            "x": randn(N, p["cin"], *p["sp"]),
            "w": randn(p["cout"], p["cin"] // p["g"], *p["k"]),
        }
        if p["bias"]:
            leaves["b"] = randn(p["cout"])

        def forward(t, p=p, S=S):
            x = t["x"]
            if p["lo"] != p["hi"]:
                # F.pad lists the last axis first: (W_lo, W_hi, H_lo, H_hi, ...).
                pads = []
                for lo, hi in zip(reversed(p["lo"]), reversed(p["hi"])):
                    pads += [lo, hi]
                x = F.pad(x, pads)
                padding = 0
            else:
                padding = p["lo"]
            return conv_fn(S)(x, t["w"], t.get("b"), stride=p["s"], padding=padding,
                              dilation=p["d"], groups=p["g"])

        config = [p["g"], p["bias"], *p["k"], *p["s"], *p["lo"], *p["hi"], *p["d"]]
        run_case(path, config, forward, leaves)


def make_conv_transpose():
    layer = "conv_transpose"
    cases = {
        "k2s2": (
            dict(cin=4, cout=3, g=1, bias=1, sp=(5, 4), k=(2, 2), s=(2, 2), p=(0, 0), op=(0, 0), d=(1, 1)),
            dict(cin=4, cout=3, g=1, bias=1, sp=(2, 4, 3), k=(2, 2, 2), s=(2, 2, 2), p=(0, 0, 0), op=(0, 0, 0), d=(1, 1, 1)),
        ),
        "k3s2p1op1": (
            dict(cin=3, cout=2, g=1, bias=1, sp=(5, 4), k=(3, 3), s=(2, 2), p=(1, 1), op=(1, 1), d=(1, 1)),
            dict(cin=3, cout=2, g=1, bias=1, sp=(2, 4, 3), k=(3, 3, 3), s=(2, 2, 2), p=(1, 1, 1), op=(1, 1, 1), d=(1, 1, 1)),
        ),
        "dilation2": (
            dict(cin=3, cout=4, g=1, bias=0, sp=(5, 4), k=(3, 3), s=(1, 1), p=(1, 1), op=(0, 0), d=(2, 2)),
            dict(cin=3, cout=4, g=1, bias=0, sp=(2, 4, 3), k=(3, 3, 3), s=(1, 1, 1), p=(1, 1, 1), op=(0, 0, 0), d=(2, 2, 2)),
        ),
        "groups2": (
            dict(cin=4, cout=6, g=2, bias=1, sp=(5, 4), k=(3, 3), s=(2, 2), p=(1, 1), op=(0, 0), d=(1, 1)),
            dict(cin=4, cout=6, g=2, bias=1, sp=(2, 4, 3), k=(3, 3, 3), s=(2, 2, 2), p=(1, 1, 1), op=(0, 0, 0), d=(1, 1, 1)),
        ),
    }
    for case, S, p in spatial_cases(cases):
        path = start_case(layer, case)
        leaves = {
            "x": randn(N, p["cin"], *p["sp"]),
            "w": randn(p["cin"], p["cout"] // p["g"], *p["k"]),
        }
        if p["bias"]:
            leaves["b"] = randn(p["cout"])
        fn = F.conv_transpose2d if S == 2 else F.conv_transpose3d

        def forward(t, p=p, fn=fn):
            return fn(t["x"], t["w"], t.get("b"), stride=p["s"], padding=p["p"],
                      output_padding=p["op"], groups=p["g"], dilation=p["d"])

        config = [p["g"], p["bias"], *p["k"], *p["s"], *p["p"], *p["op"], *p["d"]]
        run_case(path, config, forward, leaves)


# ---------------------------------------------------------------------------
# Normalisation
# ---------------------------------------------------------------------------

def make_batchnorm():
    layer = "batchnorm"
    C, momentum, eps = 4, 0.1, 1e-5
    for S in (2, 3):
        for mode, train in (("train", 1), ("eval", 0)):
            path = start_case(layer, f"{S}d_{mode}")
            leaves = {"x": randn(N, C, *SP[S]), "w": randn(C), "b": randn(C)}
            running_mean = randn(C)
            running_var = torch.rand(C, dtype=torch.float64) + 0.5  # uniform 0.5..1.5
            extra = {
                "running_mean": running_mean.clone(),
                "running_var": running_var.clone(),
                # These two are updated in place by the forward pass (train only).
                "running_mean_after": running_mean,
                "running_var_after": running_var,
            }

            def forward(t, train=train, rm=running_mean, rv=running_var):
                return F.batch_norm(t["x"], rm, rv, t["w"], t["b"], training=bool(train),
                                    momentum=momentum, eps=eps)

            run_case(path, [train, momentum, eps], forward, leaves, extra)


def make_groupnorm():
    layer = "groupnorm"
    eps = 1e-5
    for S in (2, 3):
        for case, C, groups in (("g2", 4, 2), ("g1", 3, 1), ("gc", 4, 4)):
            path = start_case(layer, f"{S}d_{case}")
            leaves = {"x": randn(N, C, *SP[S]), "w": randn(C), "b": randn(C)}

            def forward(t, groups=groups):
                return F.group_norm(t["x"], groups, t["w"], t["b"], eps)

            run_case(path, [groups, eps], forward, leaves)


# ---------------------------------------------------------------------------
# Element-wise and channel-wise functions
# ---------------------------------------------------------------------------

def make_pointwise(layer, fn, config, C=3):
    """One `basic` case per spatial rank for a function of a single input x."""
    for S in (2, 3):
        path = start_case(layer, f"{S}d_basic")
        run_case(path, config, lambda t: fn(t["x"]), {"x": randn(N, C, *SP[S])})


def make_activations():
    make_pointwise("relu", F.relu, [0])
    make_pointwise("sigmoid", torch.sigmoid, [0])
    make_pointwise("tanh", torch.tanh, [0])
    make_pointwise("leaky_relu", lambda x: F.leaky_relu(x, negative_slope=0.1), [0.1])
    make_pointwise("softmax", lambda x: F.softmax(x, dim=1), [0], C=5)
    make_pointwise("log_softmax", lambda x: F.log_softmax(x, dim=1), [0], C=5)
    make_pointwise("global_avgpool", lambda x: x.mean(dim=tuple(range(2, x.dim()))), [0], C=4)


# ---------------------------------------------------------------------------
# Pooling and resizing
# ---------------------------------------------------------------------------

POOL_CASES = {
    # name: (spatial_2d, spatial_3d, k, stride, padding) with k/stride/padding per axis
    "k2s2": ((7, 9), (5, 7, 5), 2, 2, 0),
    "k3s2p1": ((7, 6), (5, 6, 4), 3, 2, 1),
}


def make_maxpool():
    layer = "maxpool"
    for S in (2, 3):
        fn = F.max_pool2d if S == 2 else F.max_pool3d
        for name, (sp2, sp3, k, s, p) in POOL_CASES.items():
            path = start_case(layer, f"{S}d_{name}")
            k_, s_, p_ = (k,) * S, (s,) * S, (p,) * S

            def forward(t, fn=fn, k_=k_, s_=s_, p_=p_):
                return fn(t["x"], k_, s_, p_)

            run_case(path, [*k_, *s_, *p_], forward, {"x": randn(N, 3, *(sp2 if S == 2 else sp3))})


def make_avgpool():
    layer = "avgpool"
    cases = (
        ("k2s2", "k2s2", 1),
        ("k3s2p1_include", "k3s2p1", 1),
        ("k3s2p1_exclude", "k3s2p1", 0),
    )
    for S in (2, 3):
        fn = F.avg_pool2d if S == 2 else F.avg_pool3d
        for name, geometry, include in cases:
            sp2, sp3, k, s, p = POOL_CASES[geometry]
            path = start_case(layer, f"{S}d_{name}")
            k_, s_, p_ = (k,) * S, (s,) * S, (p,) * S

            def forward(t, fn=fn, k_=k_, s_=s_, p_=p_, include=include):
                return fn(t["x"], k_, s_, p_, ceil_mode=False, count_include_pad=bool(include))

            run_case(path, [*k_, *s_, *p_, include], forward,
                     {"x": randn(N, 3, *(sp2 if S == 2 else sp3))})


def make_resize():
    layer = "resize"
    # name: (mode, align_corners, (in_2d, out_2d), (in_3d, out_3d))
    cases = {
        "nearest_up": (0, 0, ((5, 4), (10, 7)), ((3, 5, 4), (7, 10, 6))),
        "nearest_down": (0, 0, ((9, 8), (4, 5)), ((7, 6, 5), (3, 4, 2))),
        "linear_up_ac0": (1, 0, ((5, 4), (9, 7)), ((3, 5, 4), (5, 8, 7))),
        "linear_up_ac1": (1, 1, ((5, 4), (8, 11)), ((3, 5, 4), (7, 9, 6))),
        "linear_down_ac0": (1, 0, ((9, 8), (4, 5)), ((7, 6, 5), (3, 4, 2))),
        "linear_down_ac1": (1, 1, ((9, 8), (5, 3)), ((7, 6, 5), (4, 5, 3))),
    }
    for name, (mode, ac, io2, io3) in cases.items():
        for S, (sp_in, sp_out) in ((2, io2), (3, io3)):
            path = start_case(layer, f"{S}d_{name}")
            if mode == 0:
                kwargs = dict(mode="nearest", align_corners=None)
            else:
                kwargs = dict(mode="bilinear" if S == 2 else "trilinear", align_corners=bool(ac))

            def forward(t, sp_out=sp_out, kwargs=kwargs):
                return F.interpolate(t["x"], size=sp_out, **kwargs)

            run_case(path, [mode, ac, *sp_out], forward, {"x": randn(N, 2, *sp_in)})


# ---------------------------------------------------------------------------
# Linear layer and tensor plumbing
# ---------------------------------------------------------------------------

def make_linear():
    layer = "linear"
    for case, has_bias in (("flat_bias", 1), ("flat_nobias", 0)):
        path = start_case(layer, case)
        leaves = {"x": randn(3, 7), "w": randn(5, 7)}
        if has_bias:
            leaves["b"] = randn(5)
        run_case(path, [has_bias], lambda t: F.linear(t["x"], t["w"], t.get("b")), leaves)


def make_concat():
    layer = "concat"
    for S in (2, 3):
        path = start_case(layer, f"{S}d_basic")
        leaves = {"x0": randn(N, 2, *SP[S]), "x1": randn(N, 3, *SP[S])}
        run_case(path, [0], lambda t: torch.cat([t["x0"], t["x1"]], dim=1), leaves)


def make_add():
    layer = "add"
    for S in (2, 3):
        path = start_case(layer, f"{S}d_basic")
        leaves = {"x0": randn(N, 3, *SP[S]), "x1": randn(N, 3, *SP[S])}
        run_case(path, [0], lambda t: t["x0"] + t["x1"], leaves)


# ---------------------------------------------------------------------------
# Optimizers and learning-rate schedules
# ---------------------------------------------------------------------------

def make_optim():
    layer = "optim"
    steps, size = 5, 13
    cases = {
        "sgd_plain": ([0, 0.1, 0.0, 0.0, 0],
                      lambda p: torch.optim.SGD([p], lr=0.1)),
        "sgd_momentum": ([0, 0.1, 0.9, 0.0, 0],
                         lambda p: torch.optim.SGD([p], lr=0.1, momentum=0.9)),
        "sgd_nesterov_wd": ([0, 0.05, 0.9, 0.01, 1],
                            lambda p: torch.optim.SGD([p], lr=0.05, momentum=0.9, dampening=0,
                                                      weight_decay=0.01, nesterov=True)),
        "adam_default": ([1, 0.1, 0.9, 0.999, 1e-8, 0.0],
                         lambda p: torch.optim.Adam([p], lr=0.1, betas=(0.9, 0.999), eps=1e-8)),
        "adam_wd": ([1, 3e-3, 0.5, 0.99, 1e-8, 0.01],
                    lambda p: torch.optim.Adam([p], lr=3e-3, betas=(0.5, 0.99), eps=1e-8,
                                               weight_decay=0.01)),
        "adamw": ([2, 1e-3, 0.9, 0.999, 1e-8, 0.05],
                  lambda p: torch.optim.AdamW([p], lr=1e-3, betas=(0.9, 0.999), eps=1e-8,
                                              weight_decay=0.05)),
    }
    for case, (config, make_opt) in cases.items():
        path = start_case(layer, case)
        p0 = randn(size)
        grads = randn(steps, size)
        p = p0.clone().requires_grad_(True)
        opt = make_opt(p)
        trajectory = []
        for s in range(steps):
            p.grad = grads[s].clone()
            opt.step()
            trajectory.append(p.detach().clone())
        save(path, "config", config)
        save(path, "p0", p0)
        save(path, "grads", grads)
        save(path, "trajectory", torch.stack(trajectory))


def make_schedule():
    layer = "schedule"
    steps, base_lr = 20, 0.1
    sched = torch.optim.lr_scheduler
    cases = {
        "step": ([0, 3, 0.5], lambda o: sched.StepLR(o, step_size=3, gamma=0.5)),
        "cosine": ([1, 10, 0.01], lambda o: sched.CosineAnnealingLR(o, T_max=10, eta_min=0.01)),
        "poly": ([2, 15, 0.9], lambda o: sched.PolynomialLR(o, total_iters=15, power=0.9)),
        "warmup": ([3, 0.1, 4], lambda o: sched.LinearLR(o, start_factor=0.1, end_factor=1.0,
                                                         total_iters=4)),
    }
    for case, (config, make_sched) in cases.items():
        path = start_case(layer, case)
        param = torch.zeros(1, requires_grad=True)
        opt = torch.optim.SGD([param], lr=base_lr)
        scheduler = make_sched(opt)
        lrs = []
        for _ in range(steps):
            lrs.append(opt.param_groups[0]["lr"])
            opt.step()  # no gradient, so this only keeps torch's call-order check quiet
            scheduler.step()
        save(path, "config", config)
        save(path, "lr", lrs)


# ---------------------------------------------------------------------------
# Losses (tests/fixtures/loss/<loss>/<flat_|2d_|3d_case>; layout in tests/fixtures/loss/README.md)
# ---------------------------------------------------------------------------

LOSS_SHAPES = {"flat": (7, 4, ()), "2d": (2, 4, (5, 6)), "3d": (2, 3, (3, 4, 5))}


def loss_cases(cases):
    """Yield (case directory, N, C, spatial, params) for every prefix and case."""
    for prefix, (n, c, sp) in LOSS_SHAPES.items():
        for name, params in cases.items():
            yield f"{prefix}_{name}", n, c, sp, params


def loss_labels(n, sp, classes, ignore, ignore_fraction):
    """Labels N×1×spatial in [0, classes), with about ignore_fraction set to `ignore`."""
    y = torch.randint(0, classes, (n, 1) + sp)
    if ignore_fraction > 0:
        y[torch.rand(y.shape) < ignore_fraction] = ignore
    return y


def pixel_weights(n, sp):
    return torch.rand((n, 1) + sp) * 2


def save_loss(path, config, logits, value, extra):
    save(path, "config", config)
    save(path, "logits", logits)
    save(path, "value", value.reshape(1))
    save(path, "dlogits", logits.grad)
    for name, tensor in extra.items():
        save(path, name, tensor)


def ce_reference(x, y, cw, ignore, eps, w):
    """Mean cross-entropy as PyTorch, with per-pixel weights multiplying each pixel's term."""
    t = y[:, 0]
    if w is None:
        return F.cross_entropy(x, t, weight=cw, ignore_index=ignore, label_smoothing=eps)
    per = F.cross_entropy(x, t, weight=cw, ignore_index=ignore, label_smoothing=eps, reduction="none")
    valid = t != ignore
    norm = cw[t[valid]].sum() if cw is not None else valid.sum()
    return (per * w[:, 0]).sum() / norm


def dice_reference(x, y, ignore, include_background, batch, smooth_nr, smooth_dr, w):
    """MONAI DiceLoss(softmax=True, to_onehot_y=True) with ignored pixels left out of every sum."""
    c = x.shape[1]
    p = torch.softmax(x, 1)
    mask = (y != ignore).to(x.dtype)
    if w is not None:
        mask = mask * w  # each pixel's share of all three sums
    g = F.one_hot(torch.where(y[:, 0] == ignore, 0, y[:, 0]), c).movedim(-1, 1).to(x.dtype)
    if not include_background:
        p, g = p[:, 1:], g[:, 1:]
    axes = list(range(2, x.dim()))
    if batch:
        axes = [0] + axes
    inter = (mask * p * g).sum(axes) if axes else mask * p * g
    den = ((mask * p).sum(axes) + (mask * g).sum(axes)) if axes else mask * (p + g)
    return (1 - (2 * inter + smooth_nr) / (den + smooth_dr)).mean()


def make_losses():
    ignore = -1

    # cross_entropy config: ignore_index, label_smoothing
    ce = {
        "basic": dict(ignore=-1, frac=0.0, cw=False, eps=0.0, w=False),
        "ignore": dict(ignore=-1, frac=0.3, cw=False, eps=0.0, w=False),
        "ignore100": dict(ignore=-100, frac=0.3, cw=False, eps=0.0, w=False),
        "class_weights": dict(ignore=-1, frac=0.3, cw=True, eps=0.0, w=False),
        "smoothing": dict(ignore=-1, frac=0.3, cw=False, eps=0.2, w=False),
        "weights_smoothing": dict(ignore=-1, frac=0.3, cw=True, eps=0.1, w=False),
        "pixel_weights": dict(ignore=-1, frac=0.3, cw=True, eps=0.1, w=True),
    }
    for case, n, c, sp, o in loss_cases(ce):
        path = start_case("loss/cross_entropy", case)
        x = randn(n, c, *sp).requires_grad_(True)
        y = loss_labels(n, sp, c, o["ignore"], o["frac"])
        cw = torch.rand(c) + 0.5 if o["cw"] else None
        w = pixel_weights(n, sp) if o["w"] else None
        value = ce_reference(x, y, cw, o["ignore"], o["eps"], w)
        if w is None:
            check = ce_reference(x, y, cw, o["ignore"], o["eps"], torch.ones((n, 1) + sp))
            assert torch.allclose(value, check), case
        value.backward()
        extra = {"target": y}
        if cw is not None:
            extra["class_weights"] = cw
        if w is not None:
            extra["weights"] = w
        save_loss(path, [o["ignore"], o["eps"]], x, value, extra)

    # binary_cross_entropy config: ignore_index; files: pos_weight [C], weights
    bce = {
        "basic": dict(c=1, frac=0.0, pw=False, w=False),
        "channels": dict(c=3, frac=0.0, pw=False, w=False),
        "ignore_pos_weight": dict(c=3, frac=0.3, pw=True, w=False),
        "pixel_weights": dict(c=2, frac=0.3, pw=True, w=True),
    }
    for case, n, _, sp, o in loss_cases(bce):
        path = start_case("loss/binary_cross_entropy", case)
        c = o["c"]
        x = (randn(n, c, *sp) * 3).requires_grad_(True)
        y = torch.randint(0, 2, (n, c) + sp)
        if o["frac"] > 0:
            y[torch.rand(y.shape) < o["frac"]] = ignore
        pw = torch.rand(c) * 3 + 0.2 if o["pw"] else None
        w = pixel_weights(n, sp) if o["w"] else None
        valid = y != ignore
        pw_b = pw.view((c,) + (1,) * len(sp)) if pw is not None else None
        per = F.binary_cross_entropy_with_logits(x, y.clamp(min=0).to(x.dtype), pos_weight=pw_b, reduction="none")
        per = per * valid
        if w is not None:
            per = per * w
        value = per.sum() / valid.sum()
        if o["frac"] == 0 and w is None:
            torch_mean = F.binary_cross_entropy_with_logits(x, y.to(x.dtype), pos_weight=pw_b)
            assert torch.allclose(value, torch_mean), case
        value.backward()
        extra = {"target": y}
        if pw is not None:
            extra["pos_weight"] = pw
        if w is not None:
            extra["weights"] = w
        save_loss(path, [ignore], x, value, extra)

    # dice config: ignore_index, include_background, batch, smooth_nr, smooth_dr
    dice = {
        "basic": dict(frac=0.0, bg=1, batch=0, nr=1e-5, dr=1e-5, w=False),
        "no_background": dict(frac=0.0, bg=0, batch=0, nr=1e-5, dr=1e-5, w=False),
        "batch": dict(frac=0.2, bg=1, batch=1, nr=1e-5, dr=1e-5, w=False),
        "ignore_smooth1": dict(frac=0.3, bg=1, batch=0, nr=1.0, dr=1.0, w=False),
        "pixel_weights": dict(frac=0.3, bg=0, batch=1, nr=1e-5, dr=1e-5, w=True),
    }
    for case, n, c, sp, o in loss_cases(dice):
        path = start_case("loss/dice", case)
        x = randn(n, c, *sp).requires_grad_(True)
        y = loss_labels(n, sp, c, ignore, o["frac"])
        w = pixel_weights(n, sp) if o["w"] else None
        value = dice_reference(x, y, ignore, o["bg"], o["batch"], o["nr"], o["dr"], w)
        value.backward()
        extra = {"target": y}
        if w is not None:
            extra["weights"] = w
        save_loss(path, [ignore, o["bg"], o["batch"], o["nr"], o["dr"]], x, value, extra)

    # dice_ce config: ignore_index, lambda_ce, lambda_dice, include_background, batch,
    # label_smoothing; the Dice smooths are 1e-5
    dice_ce = {
        "basic": dict(frac=0.0, lce=1.0, ld=1.0, bg=1, batch=0, eps=0.0, cw=False),
        "weighted": dict(frac=0.3, lce=0.5, ld=2.0, bg=0, batch=1, eps=0.1, cw=True),
    }
    for case, n, c, sp, o in loss_cases(dice_ce):
        path = start_case("loss/dice_ce", case)
        x = randn(n, c, *sp).requires_grad_(True)
        y = loss_labels(n, sp, c, ignore, o["frac"])
        cw = torch.rand(c) + 0.5 if o["cw"] else None
        value = (o["lce"] * ce_reference(x, y, cw, ignore, o["eps"], None)
                 + o["ld"] * dice_reference(x, y, ignore, o["bg"], o["batch"], 1e-5, 1e-5, None))
        value.backward()
        extra = {"target": y}
        if cw is not None:
            extra["class_weights"] = cw
        save_loss(path, [ignore, o["lce"], o["ld"], o["bg"], o["batch"], o["eps"]], x, value, extra)

    # focal config: ignore_index, gamma; files: alpha [C], weights
    focal = {
        "basic": dict(frac=0.0, gamma=2.0, alpha=False, w=False),
        "gamma0": dict(frac=0.3, gamma=0.0, alpha=False, w=False),
        "alpha_ignore": dict(frac=0.3, gamma=2.0, alpha=True, w=False),
        "gamma1_5_pixel_weights": dict(frac=0.3, gamma=1.5, alpha=True, w=True),
    }
    for case, n, c, sp, o in loss_cases(focal):
        path = start_case("loss/focal", case)
        x = (randn(n, c, *sp) * 2).requires_grad_(True)
        y = loss_labels(n, sp, c, ignore, o["frac"])
        alpha = torch.rand(c) + 0.25 if o["alpha"] else None
        w = pixel_weights(n, sp) if o["w"] else None
        t = y[:, 0]
        valid = t != ignore
        safe = torch.where(valid, t, 0)
        logp = torch.log_softmax(x, 1).gather(1, safe.unsqueeze(1))[:, 0]
        per = -((1 - logp.exp()) ** o["gamma"]) * logp
        if alpha is not None:
            per = per * alpha[safe]
        if w is not None:
            per = per * w[:, 0]
        value = (per * valid).sum() / valid.sum()
        if o["gamma"] == 0 and alpha is None:
            assert torch.allclose(value, F.cross_entropy(x, t, ignore_index=ignore)), case
        value.backward()
        extra = {"target": y}
        if alpha is not None:
            extra["alpha"] = alpha
        if w is not None:
            extra["weights"] = w
        save_loss(path, [ignore, o["gamma"]], x, value, extra)

    # softmax_mse and softmax_kl config: target_is_probability; files: teacher, weights
    consistency = {
        "logits": dict(prob=0, w=False),
        "probabilities": dict(prob=1, w=False),
        "pixel_weights": dict(prob=0, w=True),
    }
    for loss in ("softmax_mse", "softmax_kl"):
        for case, n, c, sp, o in loss_cases(consistency):
            path = start_case(f"loss/{loss}", case)
            x = randn(n, c, *sp).requires_grad_(True)
            teacher = randn(n, c, *sp) * 2
            pt = torch.softmax(teacher, 1)
            if o["prob"]:
                teacher = pt
            w = pixel_weights(n, sp) if o["w"] else torch.ones((n, 1) + sp)
            if loss == "softmax_mse":
                # METHODS.md: Σ (softmax_s − softmax_t)² / (C·|B|), |B| = N·plane positions
                per = ((torch.softmax(x, 1) - pt) ** 2).sum(1, keepdim=True)
                value = (per * w).sum() / x.numel()
                if not o["w"]:
                    assert torch.allclose(value, F.mse_loss(torch.softmax(x, 1), pt)), case
            else:
                # KL(p_t ‖ p_s) summed over classes, mean over the N·plane positions
                per = F.kl_div(torch.log_softmax(x, 1), pt, reduction="none").sum(1, keepdim=True)
                value = (per * w).sum() / (x.numel() // c)
                if not o["w"] and not sp:
                    assert torch.allclose(value, F.kl_div(torch.log_softmax(x, 1), pt, reduction="batchmean"))
            value.backward()
            extra = {"teacher": teacher}
            if o["w"]:
                extra["weights"] = w
            save_loss(path, [o["prob"]], x, value, extra)


# ---------------------------------------------------------------------------
# EmbedSeg spatial-embedding loss (spatial_embedding/<2d_|3d_case>; layout in README.md)
# ---------------------------------------------------------------------------
#
# Lalit et al. 2021 (EmbedSeg), after Neven et al. 2019, written from the formulas in
# tests/fixtures/README.md. Prediction channels: S offsets, S sigmas, one seed logit, offsets and
# sigmas in x, y(, z) order, embedding axis d being tensor spatial axis S − 1 − d.

CENTRE_FLAG = 1 << 30


def embedding_coordinates(sp, spacing, grid):
    """Pixel coordinates (S, *sp) in x, y(, z) order: row d runs along tensor axis S − 1 − d."""
    S = len(sp)
    rows = []
    for d in range(S):
        axis = S - 1 - d
        line = torch.arange(sp[axis], dtype=torch.float64) * spacing[axis] / (grid - 1)
        view = [1] * S
        view[axis] = sp[axis]
        rows.append(line.view(view).expand(sp))
    return torch.stack(rows)


def instance_ids(t):
    """Instance id per pixel: the flag bit cleared on labelled pixels, 0 and −1 kept."""
    return torch.where(t > 0, t & ~CENTRE_FLAG, t)


def instance_centre(t, ids, k, coords):
    """Centre of instance k: its flagged pixel's coordinates, else its centroid."""
    mask = ids == k
    flagged = mask & ((t & CENTRE_FLAG) != 0)
    count = int(flagged.sum())
    assert count <= 1, f"instance {k} has {count} flagged pixels"
    return coords[:, flagged][:, 0] if count == 1 else coords[:, mask].mean(1)


def lovasz_grad(gt_sorted):
    """Gradient of the Lovász extension of the Jaccard loss at labels sorted by error."""
    gts = gt_sorted.sum()
    intersection = gts - gt_sorted.cumsum(0)
    union = gts + (1 - gt_sorted).cumsum(0)
    jaccard = 1 - intersection / union
    return torch.cat([jaccard[:1], jaccard[1:] - jaccard[:-1]])


def lovasz_hinge_flat(logits, labels):
    """Binary Lovász hinge (Berman et al. 2018) of one flat image; labels are 0/1 floats."""
    errors = 1 - logits * (2 * labels - 1)
    errors_sorted, order = torch.sort(errors, descending=True)
    return torch.dot(F.relu(errors_sorted), lovasz_grad(labels[order]))


def check_lovasz_grad(labels_sorted):
    """lovasz_grad against the Jaccard loss |M| / |P ∪ M| of every prefix M, by counting."""
    lab = labels_sorted.tolist()
    positives = sum(lab)

    def jaccard_loss(i):  # M = the first i pixels
        return i / (positives + sum(1 - v for v in lab[:i])) if i else 0.0

    brute = [jaccard_loss(i + 1) - jaccard_loss(i) for i in range(len(lab))]
    assert torch.allclose(lovasz_grad(labels_sorted), torch.tensor(brute)), "lovasz_grad"


def error_margins(phi, labels):
    """(smallest gap between sorted hinge errors, smallest gap between neighbours of different
    labels, smallest error) of one instance's Lovász hinge: how far the fixture is from a tie."""
    errors = torch.sort(1 - (2 * phi - 1) * (2 * labels - 1))
    gaps = errors.values.diff()
    mixed = gaps[labels[errors.indices].diff() != 0]
    return float(gaps.min()), float(mixed.min()), float(errors.values[0])


def spatial_embedding_reference(pred, target, grid, spacing, w_inst, w_var, w_seed, w_fg):
    """Loss (mean over the batch), parts [inst, var, seed_term] averaged over the batch, and per
    instance (image, id, min φ on the mask, max φ on the mask, error_margins...)."""
    n = pred.shape[0]
    S = pred.dim() - 2
    sp = tuple(pred.shape[2:])
    coords = embedding_coordinates(sp, spacing, grid)
    bcast = (S,) + (1,) * S
    loss = pred.new_zeros(())
    parts = torch.zeros(3)
    ranges = []
    for b in range(n):
        t = target[b, 0]
        ids = instance_ids(t)
        e = torch.tanh(pred[b, :S]) + coords
        sigma = pred[b, S:2 * S]
        seed = torch.sigmoid(pred[b, 2 * S])
        valid = t >= 0
        seed_sum = (seed[t == 0] ** 2).sum()
        inst_terms, var_terms = [], []
        for k in torch.unique(ids[ids > 0]).tolist():
            mask = ids == k
            c = instance_centre(t, ids, k, coords)
            s = sigma[:, mask].mean(1)
            var_terms.append(((sigma[:, mask] - s.detach()[:, None]) ** 2).mean())
            phi = torch.exp(-(torch.exp(10 * s).view(bcast) * (e - c.view(bcast)) ** 2).sum(0))
            labels = mask[valid].to(torch.float64)
            inst_terms.append(lovasz_hinge_flat(2 * phi[valid] - 1, labels))
            seed_sum = seed_sum + w_fg * ((seed[mask] - phi.detach()[mask]) ** 2).sum()
            ranges.append((b, k, float(phi[mask].min()), float(phi[mask].max()),
                           *error_margins(phi.detach()[valid], labels)))
        inst = torch.stack(inst_terms).mean() if inst_terms else pred.new_zeros(())
        var = torch.stack(var_terms).mean() if var_terms else pred.new_zeros(())
        seed_term = seed_sum / t.numel()
        loss = loss + w_inst * inst + w_var * var + w_seed * seed_term
        parts += torch.stack([inst, var, seed_term]).detach()
    return loss / n, parts / n, ranges


def ellipse_target(sp, blobs):
    """One N = 1 plane of instance ids: blob (k, centre, radii) in tensor axis order fills the
    pixels with Σ ((index − centre) / radius)² ≤ 1 (later blobs overwrite earlier ones)."""
    t = torch.zeros(sp, dtype=torch.int64)
    grids = torch.meshgrid(*[torch.arange(n, dtype=torch.float64) for n in sp], indexing="ij")
    for k, centre, radii in blobs:
        inside = sum(((g - c) / r) ** 2 for g, c, r in zip(grids, centre, radii)) <= 1
        t[inside] = k
    return t


def flag_centres(t, flagged):
    """Set the centre flag on one random pixel of every instance listed in flagged."""
    for k in flagged:
        where = (t == k).flatten().nonzero()[:, 0]
        assert len(where) > 0, f"instance {k} is empty"
        pick = where[torch.randint(len(where), ())]
        t.view(-1)[pick] = k | CENTRE_FLAG
    return t


def embedding_prediction(target, spacing, grid, sigma_base):
    """A raw prediction whose φ takes a wide range of values: each instance pixel's embedding is
    put at a distance from its instance's centre that gives φ uniform in [0.04, 0.96] (sigmas as
    drawn); every other pixel (background or ignored) is aimed at a random instance with φ in
    [0.005, 0.7] (false positives for the hinge), which also keeps every φ far from underflow.
    Without instances the offsets are random."""
    n = target.shape[0]
    sp = tuple(target.shape[2:])
    S = len(sp)
    coords = embedding_coordinates(sp, spacing, grid)
    pred = torch.zeros((n, 2 * S + 1) + sp)
    for b in range(n):
        t = target[b, 0]
        ids = instance_ids(t)
        sigma = torch.tensor(sigma_base).view((S,) + (1,) * S) + 0.1 * randn(S, *sp)
        shift = (torch.rand(S, *sp) * 2 - 1) * 0.8  # tanh(offset)
        keys = torch.unique(ids[ids > 0]).tolist()
        centres = {k: instance_centre(t, ids, k, coords) for k in keys}
        scales = {k: torch.exp(10 * sigma[:, ids == k].mean(1)) for k in keys}

        def aim(where, k, lo, hi):
            m = int(where.sum())
            phi = lo + (hi - lo) * torch.rand(m)
            u = randn(S, m)
            u = u / u.norm(dim=0, keepdim=True)
            r = torch.sqrt(-torch.log(phi) / (scales[k][:, None] * u ** 2).sum(0))
            want = centres[k][:, None] + r * u - coords[:, where]
            assert want.abs().max() < 0.97, "embedding target out of tanh's range; use a larger grid"
            shift[:, where] = want

        for k in keys:
            aim(ids == k, k, 0.04, 0.96)
        if keys:
            others = ids <= 0
            pick = torch.randint(len(keys), sp)
            for i, k in enumerate(keys):
                where = others & (pick == i)
                if where.any():
                    aim(where, k, 0.005, 0.7)
        pred[b, :S] = torch.atanh(shift)
        pred[b, S:2 * S] = sigma
        pred[b, 2 * S] = randn(*sp) * 1.5
    return pred


def make_spatial_embedding():
    layer = "spatial_embedding"
    sp2, sp3 = (12, 10), (5, 8, 7)
    # images: one list of (blobs, flagged ids, ignored fraction) per batch image
    cases = {
        "2d_two_flagged": dict(sp=sp2, grid=32, spacing=(1, 1), w=(1, 10, 1, 10), sigma=(0.35, 0.45), images=[
            ([(1, (3, 3), (2.6, 2.2)), (2, (8, 6), (3.2, 2.6))], [1, 2], 0.0),
            ([(1, (4, 7), (3.0, 2.4)), (2, (9, 2), (2.4, 2.0))], [1, 2], 0.0),
        ]),
        "2d_background_only": dict(sp=sp2, grid=32, spacing=(1, 1), w=(1, 10, 1, 10), sigma=(0.4, 0.3), images=[
            ([], [], 0.0),
        ]),
        "2d_border_ignore": dict(sp=sp2, grid=32, spacing=(1, 1), w=(1, 10, 1, 10), sigma=(0.3, 0.5), images=[
            ([(3, (1, 6), (4.2, 3.4))], [3], 0.15),
        ]),
        "2d_three_centroid": dict(sp=sp2, grid=24, spacing=(1, 1), w=(1, 10, 1, 10), sigma=(0.45, 0.35), images=[
            ([(1, (2.5, 2.5), (2.2, 2.0)), (5, (3, 7.5), (2.4, 1.8)), (2, (8.5, 4.5), (3.0, 3.5))], [], 0.0),
        ]),
        "2d_spacing_grid_weights": dict(sp=sp2, grid=48, spacing=(1.5, 0.75), w=(0.5, 3, 2, 4), sigma=(0.5, 0.3), images=[
            ([(1, (3, 2.5), (2.5, 2.2)), (2, (8.5, 7), (2.8, 2.4))], [1, 2], 0.0),
            ([(4, (6, 3), (4.0, 2.2)), (7, (5, 8), (3.0, 1.6))], [4], 0.1),
        ]),
        "3d_two_aniso": dict(sp=sp3, grid=32, spacing=(2, 1, 1), w=(1, 10, 1, 10), sigma=(0.35, 0.45, 0.3), images=[
            ([(1, (1.5, 2.5, 2), (1.6, 2.2, 2.2)), (2, (3, 5.5, 4.5), (1.8, 2.4, 2.2))], [1, 2], 0.0),
        ]),
        "3d_grid64": dict(sp=sp3, grid=64, spacing=(1, 1, 1), w=(1, 10, 1, 10), sigma=(0.3, 0.4, 0.5), images=[
            ([(1, (2, 4, 3), (2.0, 3.0, 2.6))], [1], 0.0),
            ([(6, (2.5, 3, 4), (1.8, 2.6, 2.4))], [], 0.1),
        ]),
    }
    check_lovasz_grad(torch.tensor([1.0, 0, 0, 1, 1, 0, 1, 0, 0]))
    for case, o in cases.items():
        path = start_case(layer, case)
        S = len(o["sp"])
        planes = []
        for blobs, flagged, ignored in o["images"]:
            t = ellipse_target(o["sp"], blobs)
            if ignored > 0:
                t[torch.rand(o["sp"]) < ignored] = -1
            planes.append(flag_centres(t, flagged))
        target = torch.stack(planes).unsqueeze(1).to(torch.int32)
        for attempt in range(20):  # draw again until no two hinge errors come near a tie
            pred = embedding_prediction(target, o["spacing"], o["grid"], o["sigma"]).requires_grad_(True)
            value, parts, ranges = spatial_embedding_reference(pred, target, o["grid"], o["spacing"], *o["w"])
            if all(gap > 1e-9 and mixed > 1e-4 and low > 1e-6 for *_, gap, mixed, low in ranges):
                break
        else:
            raise AssertionError(f"{case}: hinge errors near a tie in every draw")
        w_inst, w_var, w_seed, _ = o["w"]
        assert torch.allclose(value.detach(), (parts * torch.tensor([w_inst, w_var, w_seed])).sum()), case
        value.backward()
        config = [S, o["grid"], *o["spacing"], *o["w"]]
        save(path, "config", config)
        save(path, "prediction", pred)
        save(path, "target", target.to(torch.float64))  # ids and flags are exact in float64
        save(path, "value", value.reshape(1))
        save(path, "dprediction", pred.grad)
        save(path, "parts", parts)
        phis = ", ".join(f"b{b} k{k} {lo:.3f}-{hi:.3f}" for b, k, lo, hi, *_ in ranges) or "no instances"
        margin = min((mixed for *_, mixed, _ in ranges), default=float("nan"))
        print(f"{layer}/{case}: prediction {tuple(pred.shape)}, draw {attempt}, loss {value.item():.6f}, "
              f"φ on masks: {phis}; smallest gap between hinge errors of different labels {margin:.1e}")


# ---------------------------------------------------------------------------

LAYERS = [
    ("conv", make_conv),
    ("conv_transpose", make_conv_transpose),
    ("batchnorm", make_batchnorm),
    ("groupnorm", make_groupnorm),
    (("relu", "sigmoid", "tanh", "leaky_relu", "softmax", "log_softmax", "global_avgpool"),
     make_activations),
    ("maxpool", make_maxpool),
    ("avgpool", make_avgpool),
    ("resize", make_resize),
    ("linear", make_linear),
    ("concat", make_concat),
    ("add", make_add),
    ("optim", make_optim),
    ("schedule", make_schedule),
    # Named one by one so that tests/fixtures/loss/README.md survives a regeneration.
    (tuple(f"loss/{name}" for name in ("cross_entropy", "binary_cross_entropy", "dice", "dice_ce",
                                       "focal", "softmax_mse", "softmax_kl")),
     make_losses),
    ("spatial_embedding", make_spatial_embedding),
]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("groups", nargs="*", metavar="GROUP",
                        help="write only these groups: a directory name such as conv, loss/dice or "
                             "spatial_embedding, or a generator name without make_ (activations, "
                             "losses); a name picks its whole generator. Default: every group.")
    args = parser.parse_args(argv)
    groups = [((names,) if isinstance(names, str) else names, make) for names, make in LAYERS]
    known = {name for names, make in groups for name in names + (make.__name__[len("make_"):],)}
    unknown = sorted(set(args.groups) - known)
    if unknown:
        parser.error(f"unknown group(s) {', '.join(unknown)}; choose from {', '.join(sorted(known))}")
    selected = [(names, make) for names, make in groups
                if not args.groups or set(args.groups) & set(names + (make.__name__[len("make_"):],))]

    for names, make in selected:
        for name in names:
            shutil.rmtree(ROOT / name, ignore_errors=True)
        make()

    if args.groups:
        files = [f for names, _ in selected for name in names for f in (ROOT / name).rglob("*.npy")]
    else:
        files = [f for f in ROOT.rglob("*.npy")]
    total = sum(f.stat().st_size for f in files)
    cases = sorted({f.parent.relative_to(ROOT).as_posix() for f in files})
    print(f"wrote {len(files)} files in {len(cases)} cases, {total / 1024:.1f} KiB total, under {ROOT}")


if __name__ == "__main__":
    main()

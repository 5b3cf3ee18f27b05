#!/usr/bin/python3
"""Write the float64 reference fixtures that the semiseg C++ tests compare against.

Run from anywhere with Debian's system interpreter (it has torch and numpy):

    /usr/bin/python3 tools/make_fixtures.py

Output goes to tests/fixtures/<layer>/<case>/<name>.npy; see tests/fixtures/README.md
for the layout of every config.npy. The script is deterministic: each case seeds
torch from a fixed base plus a checksum of its "<layer>/<case>" name, so adding or
removing one case does not change the others. Directories owned by this script are
deleted before they are written again.
"""

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
]


def main():
    for names, make in LAYERS:
        for name in (names,) if isinstance(names, str) else names:
            shutil.rmtree(ROOT / name, ignore_errors=True)
        make()

    files = [f for f in ROOT.rglob("*.npy")]
    total = sum(f.stat().st_size for f in files)
    cases = sorted({f.parent.relative_to(ROOT).as_posix() for f in files})
    print(f"wrote {len(files)} files in {len(cases)} cases, {total / 1024:.1f} KiB total, under {ROOT}")


if __name__ == "__main__":
    main()

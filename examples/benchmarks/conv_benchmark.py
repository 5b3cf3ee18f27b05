"""PyTorch twin of conv_benchmark.cpp: the same convolutions, forward + backward, median time.

Run with Debian's python3-torch: /usr/bin/python3 examples/benchmarks/conv_benchmark.py --threads 2
"""
import argparse
import statistics
import time

import torch


def conv_rate(dim, n, c, extent, threads, repeats, label):
    torch.set_num_threads(threads)
    conv = (torch.nn.Conv2d if dim == 2 else torch.nn.Conv3d)(c, c, 3, padding=1)
    x = torch.rand((n, c) + (extent,) * dim, requires_grad=True) - 0.5
    x = x.detach().requires_grad_(True)
    dy = torch.rand((n, c) + (extent,) * dim) - 0.5

    def step():
        conv.zero_grad(set_to_none=False)
        x.grad = None
        conv(x).backward(dy)

    step()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    seconds = statistics.median(times)
    flops = 3 * 2 * n * c * extent ** dim * c * 3 ** dim
    print(f"{label:34s} {seconds * 1e3:9.2f} ms  {flops / seconds * 1e-9:7.1f} GFLOP/s")


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    print(f"PyTorch {torch.__version__} conv benchmark: {args.threads} threads, median of {args.repeats} runs, float")
    conv_rate(2, 8, 64, 64, args.threads, args.repeats, "conv3x3 64->64, 8x64x64, fwd+bwd")
    conv_rate(3, 2, 32, 32, args.threads, args.repeats, "conv3x3x3 32->32, 2x32^3, fwd+bwd")


if __name__ == "__main__":
    main()

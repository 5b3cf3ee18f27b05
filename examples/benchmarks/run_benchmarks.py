"""Runs each workload with semiseg and with its PyTorch twin, alternately, and compares them.

    cmake --build build --target workloads
    /usr/bin/python3 examples/benchmarks/run_benchmarks.py --build-dir build --threads 1,2

For every thread count and workload the two programs run in turn (semiseg, PyTorch, semiseg, ...)
`--rounds` times each, each in its own process. The step times of all rounds are pooled per
implementation; the table shows the median step time, semiseg/PyTorch ratio, GFLOP/s and the peak
resident memory of the process. With --write FILE the environment, the command line and the table
replace the text between the benchmark result markers in FILE.
"""
import argparse
import datetime
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import markers

ROOT = Path(__file__).resolve().parents[2]
TWIN = ROOT / "examples" / "benchmarks" / "workloads.py"
BEGIN, END = "<!-- benchmark results begin -->", "<!-- benchmark results end -->"

DESCRIPTIONS = {
    "W1": "MLP 784-5000-10, Pseudo-Label SGD step (32 + 256 samples)",
    "W2": "2D U-Net b=16, 64², Mean Teacher Adam step (8 + 8 images)",
    "W3": "3D U-Net b=8, 32³, batch 2, supervised Adam step",
    "W4": "Conv2d 64→64 3×3, 8×64×64, forward + backward",
    "W5": "2D U-Net b=16, one 256² image, inference",
}
# Steps per process: about 2-5 s of PyTorch on a 2-core machine.
DEFAULT_STEPS = {"W1": 20, "W2": 10, "W3": 10, "W4": 10, "W5": 20}


def unet_forward_flops(dim, base, side, batch, in_channels=1, classes=4):
    """Multiply-adds x 2 of one U-Net forward pass (the U-Net of workloads.py)."""
    k, b = 3 ** dim, base
    p0 = side ** dim          # positions at level 0
    p1 = p0 // 2 ** dim       # level 1
    p2 = p1 // 2 ** dim       # level 2, the bottleneck
    macs = (in_channels * b + b * b) * k * p0                      # encoder level 0
    macs += (b * 2 * b + 2 * b * 2 * b) * k * p1                   # encoder level 1
    macs += (2 * b * 4 * b + 4 * b * 4 * b) * k * p2               # encoder level 2
    macs += 4 * b * 2 * b * p1 + (4 * b * 2 * b + 2 * b * 2 * b) * k * p1  # decoder 1: up, 2 convs
    macs += 2 * b * b * p0 + (2 * b * b + b * b) * k * p0          # decoder 0: up, 2 convs
    macs += b * classes * p0                                        # 1x1 head
    return 2 * batch * macs


def mlp_forward_flops(batch):
    return 2 * batch * (784 * 5000 + 5000 * 10)


# FLOPs per step, counted analytically: 2 FLOPs per multiply-add of every convolution, transposed
# convolution and linear layer; elementwise ops, BatchNorm, pooling, softmax and the losses are
# ignored. A pass that is trained counts 3x its forward FLOPs (forward, input gradient, weight
# gradient); a pass without gradients (the Mean Teacher's teacher, W5's inference) counts 1x. For
# simplicity the first layer's input gradient is counted too, although only W4 needs it.
FLOPS = {
    "W1": 3 * (mlp_forward_flops(32) + mlp_forward_flops(256)),  # two trained passes
    "W2": 3 * unet_forward_flops(2, 16, 64, 16) + unet_forward_flops(2, 16, 64, 16),  # student + teacher
    "W3": 3 * unet_forward_flops(3, 8, 32, 2),
    "W4": 3 * 2 * 8 * 64 * 64 * 64 * 64 * 9,
    "W5": unet_forward_flops(2, 16, 256, 1),
}


def fail(message):
    print(f"run_benchmarks: {message}", file=sys.stderr)
    sys.exit(2)


def run(command, env):
    """Runs one program; returns its RESULT object and its peak resident memory in KiB."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        process = subprocess.Popen(command, stdout=out, stderr=err, env=env, cwd=ROOT)
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode(errors="replace")
        stderr = err.read().decode(errors="replace")
    results = [line for line in stdout.splitlines() if line.startswith("RESULT ")]
    if process.returncode != 0 or not results:
        tail = "\n".join((stderr or stdout).splitlines()[-20:])
        fail(f"{shlex.join(command)} failed (exit status {process.returncode}"
             f"{'' if results else ', no RESULT line'}):\n{tail}")
    return json.loads(results[-1][len("RESULT "):]), usage.ru_maxrss


def output(command):
    try:
        return subprocess.run(command, capture_output=True, text=True, cwd=ROOT).stdout.strip()
    except OSError:
        return "unknown"


def environment(python):
    cpu = next((line.split(":", 1)[1].strip() for line in output(["lscpu"]).splitlines()
                if line.startswith("Model name")), platform.processor() or "unknown")
    blas = os.path.realpath("/etc/alternatives/libblas.so.3-x86_64-linux-gnu")
    if "openblas-openmp" not in blas:
        print(f"WARNING: libblas.so.3 is {blas}, not OpenBLAS (OpenMP): PyTorch does not get its best "
              "configuration. Run update-alternatives --config libblas.so.3-x86_64-linux-gnu.",
              file=sys.stderr)
    dirty = output(["git", "status", "--porcelain", "--untracked-files=no"])
    return {
        "Date (UTC)": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M"),
        "CPU": f"{cpu}, {os.cpu_count()} cores",
        "Compiler": (output(["g++", "--version"]).splitlines() or ["unknown"])[0],
        "PyTorch": output([python, "-c", "import torch; print(torch.__version__)"]) or "unknown",
        "libblas.so.3": blas,
        "semiseg commit": output(["git", "rev-parse", "--short", "HEAD"]) + (" (dirty tree)" if dirty else ""),
    }


def compare(args, threads, workload, binary):
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads),
               MKL_NUM_THREADS=str(threads))
    steps = args.steps or DEFAULT_STEPS[workload]
    common = ["--workload", workload, "--steps", str(steps), "--warmup", str(args.warmup)]
    commands = {"semiseg": [str(binary)] + common,
                "pytorch": [args.python, str(TWIN)] + common + ["--threads", str(threads)]}
    times = {impl: [] for impl in commands}
    rss = {impl: 0 for impl in commands}
    for _ in range(args.rounds):
        for impl, command in commands.items():
            result, kib = run(command, env)
            if result.get("impl") != impl or result.get("workload") != workload or result.get("threads") != threads:
                fail(f"{shlex.join(command)} reported {result.get('impl')}/{result.get('workload')}/"
                     f"{result.get('threads')} threads, expected {impl}/{workload}/{threads}")
            times[impl] += result["times"]
            rss[impl] = max(rss[impl], kib)
    median = {impl: statistics.median(t) for impl, t in times.items()}
    row = {"workload": workload, "threads": threads, "steps": len(times["semiseg"])}
    for impl in commands:
        row[impl] = {"ms": median[impl] * 1e3, "gflops": FLOPS[workload] / median[impl] * 1e-9,
                     "rss": rss[impl] / 1024}
    row["ratio"] = median["semiseg"] / median["pytorch"]
    row["rss_ratio"] = rss["semiseg"] / rss["pytorch"]
    return row


def table(rows):
    lines = ["| Workload | Threads | semiseg ms | PyTorch ms | semiseg / PyTorch | semiseg GFLOP/s "
             "| PyTorch GFLOP/s | semiseg MiB | PyTorch MiB | memory ratio |",
             "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|"]
    for r in rows:
        s, p = r["semiseg"], r["pytorch"]
        lines.append(f"| {r['workload']} | {r['threads']} | {s['ms']:.2f} | {p['ms']:.2f} | {r['ratio']:.2f} "
                     f"| {s['gflops']:.1f} | {p['gflops']:.1f} | {s['rss']:.0f} | {p['rss']:.0f} "
                     f"| {r['rss_ratio']:.2f} |")
    lines.append("")
    for w in dict.fromkeys(r["workload"] for r in rows):
        lines.append(f"- {w}: {DESCRIPTIONS[w]}; {FLOPS[w] / 1e9:.3f} GFLOP per step.")
    return "\n".join(lines)


def report(env, command, rows, args):
    lines = ["Environment:", ""] + [f"- {key}: {value}" for key, value in env.items()]
    lines += ["", "Command:", "", "    " + command, "",
              f"Median step time over {args.rounds} alternating rounds per implementation, each a "
              f"separate process that runs {args.warmup} untimed warm-up step(s) first; memory is "
              "the peak resident size of the process (max over rounds).", "", table(rows)]
    return "\n".join(lines)


def write(path, text):
    try:
        markers.replace(path, BEGIN, END, text)
    except markers.MarkerError as e:
        fail(str(e))
    print(f"wrote the results into {path}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build-dir", default="build", help="CMake build directory (default build)")
    parser.add_argument("--threads", default="1,2", help="comma-separated thread counts (default 1,2)")
    parser.add_argument("--workloads", default=",".join(FLOPS), help="comma-separated (default all)")
    parser.add_argument("--rounds", type=int, default=5, help="processes per implementation (default 5)")
    parser.add_argument("--steps", type=int, help="timed steps per process (default per workload: "
                        + ", ".join(f"{w} {s}" for w, s in DEFAULT_STEPS.items()) + ")")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps per process (default 2)")
    parser.add_argument("--python", default="/usr/bin/python3", help="interpreter with PyTorch")
    parser.add_argument("--write", metavar="FILE", help="put the results between the markers in FILE")
    args = parser.parse_args()
    command = shlex.join([sys.executable] + sys.argv)

    workloads = [w.strip() for w in args.workloads.split(",") if w.strip()]
    unknown = [w for w in workloads if w not in FLOPS]
    if unknown:
        fail(f"unknown workload(s) {', '.join(unknown)}; known: {', '.join(FLOPS)}")
    try:
        thread_counts = [int(t) for t in args.threads.split(",")]
    except ValueError:
        fail(f"--threads {args.threads}: expected comma-separated integers")
    binary = Path(args.build_dir).resolve() / "examples" / "benchmarks" / "workloads"
    if not os.access(binary, os.X_OK):
        fail(f"{binary} not found; build it first: cmake --build {args.build_dir} --target workloads")
    if args.write:  # check the markers before spending minutes on the runs
        try:
            markers.check(args.write, BEGIN, END)
        except markers.MarkerError as e:
            fail(str(e))

    env = environment(args.python)
    print("\n".join(f"{key}: {value}" for key, value in env.items()), flush=True)
    rows = []
    for threads in thread_counts:
        for workload in workloads:
            print(f"running {workload} with {threads} thread(s) ...", file=sys.stderr, flush=True)
            rows.append(compare(args, threads, workload, binary))
    print()
    print(table(rows))
    if args.write:
        write(args.write, report(env, command, rows, args))


if __name__ == "__main__":
    main()

"""Times the compilation of every example (and benchmark) translation unit, one at a time.

    /usr/bin/python3 examples/benchmarks/compile_times.py --build-dir build

Reads <build-dir>/compile_commands.json; when the build directory has none, it configures it first
with -DCMAKE_EXPORT_COMPILE_COMMANDS=ON. Each command under examples/ runs once, serially, with its
object and dependency files sent to a temporary directory, so the build tree is left as it was.
The table gives the seconds per example (summed over its translation units) and flags those over
30 s. With --write FILE the table replaces the text between the compile time markers in FILE.
"""
import argparse
import datetime
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import markers

ROOT = Path(__file__).resolve().parents[2]
BEGIN, END = "<!-- compile times begin -->", "<!-- compile times end -->"
LIMIT_S = 30.0


def fail(message):
    print(f"compile_times: {message}", file=sys.stderr)
    sys.exit(2)


def compile_commands(build_dir):
    path = build_dir / "compile_commands.json"
    if not path.is_file():
        print(f"{path} missing: configuring {build_dir} with -DCMAKE_EXPORT_COMPILE_COMMANDS=ON", flush=True)
        done = subprocess.run(["cmake", "-S", str(ROOT), "-B", str(build_dir),
                               "-DCMAKE_EXPORT_COMPILE_COMMANDS=ON"], capture_output=True, text=True)
        if done.returncode != 0 or not path.is_file():
            fail(f"configuring {build_dir} failed:\n" + "\n".join(done.stderr.splitlines()[-20:]))
    return json.loads(path.read_text())


def isolated(arguments, scratch):
    """The compile command with its outputs (-o, and -MD/-MF dependency files) moved to scratch."""
    result, skip = [], False
    for arg in arguments:
        if skip:
            skip = False
        elif arg in ("-o", "-MF", "-MT", "-MQ"):
            skip = True
        elif arg in ("-MD", "-MMD", "-MP"):
            pass
        elif arg[:3] in ("-MF", "-MT", "-MQ"):
            pass
        else:
            result.append(arg)
    return result + ["-o", str(scratch / "object.o")]


def target_of(output, source):
    """The CMake target of an object path such as examples/CMakeFiles/NAME.dir/NAME.cpp.o."""
    for part in Path(output or "").parts:
        if part.endswith(".dir"):
            return part[:-len(".dir")]
    return Path(source).stem


def table(times):
    lines = ["| Example | Translation units | Seconds |", "|---|---|--:|"]
    for target, (sources, seconds) in sorted(times.items()):
        flag = f" ⚠ over {LIMIT_S:.0f} s" if seconds > LIMIT_S else ""
        lines.append(f"| {target} | {', '.join(sources)} | {seconds:.1f}{flag} |")
    return "\n".join(lines)


def write(path, text):
    try:
        markers.replace(path, BEGIN, END, text)
    except markers.MarkerError as e:
        fail(str(e))
    print(f"wrote the compile times into {path}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build-dir", default="build", help="CMake build directory (default build)")
    parser.add_argument("--only", default="", help="time only the examples whose name contains this text")
    parser.add_argument("--write", metavar="FILE", help="put the table between the markers in FILE")
    args = parser.parse_args()
    command = shlex.join([sys.executable] + sys.argv)
    if args.write:  # check the markers before compiling for minutes
        try:
            markers.check(args.write, BEGIN, END)
        except markers.MarkerError as e:
            fail(str(e))

    entries = []
    for entry in compile_commands(Path(args.build_dir).resolve()):
        source = Path(entry["directory"], entry["file"]).resolve()
        if not source.is_relative_to(ROOT / "examples"):
            continue
        arguments = entry.get("arguments") or shlex.split(entry["command"])
        target = target_of(entry.get("output") or (arguments[arguments.index("-o") + 1]
                                                   if "-o" in arguments else None), source)
        if args.only in target:
            entries.append((target, source.relative_to(ROOT), arguments, entry["directory"]))
    if not entries:
        fail(f"no compile commands under examples/ in {args.build_dir}/compile_commands.json"
             + (f" for examples matching '{args.only}'" if args.only else ""))

    times = {}
    with tempfile.TemporaryDirectory() as scratch:
        for target, source, arguments, directory in entries:
            start = time.perf_counter()
            done = subprocess.run(isolated(arguments, Path(scratch)), cwd=directory, capture_output=True, text=True)
            seconds = time.perf_counter() - start
            if done.returncode != 0:
                fail(f"compiling {source} for {target} failed:\n" + "\n".join(done.stderr.splitlines()[-20:]))
            print(f"{target:32s} {source}  {seconds:6.1f} s", flush=True)
            sources, total = times.get(target, ([], 0.0))
            times[target] = (sources + [str(source)], total + seconds)

    print()
    print(table(times))
    slow = [t for t, (_, s) in times.items() if s > LIMIT_S]
    if slow:
        print(f"\nover {LIMIT_S:.0f} s: {', '.join(sorted(slow))}", file=sys.stderr)
    if args.write:
        compiler = Path(entries[0][2][0]).name
        version = subprocess.run([entries[0][2][0], "--version"], capture_output=True, text=True).stdout
        date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M")
        text = (f"Measured {date} UTC with {(version.splitlines() or [compiler])[0]}, one compilation at "
                f"a time, on {os.cpu_count()} cores:\n\n    {command}\n\n{table(times)}")
        write(args.write, text)


if __name__ == "__main__":
    main()

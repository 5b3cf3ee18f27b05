#!/usr/bin/python3
"""Safetensors cross-checks for tests/train/safetensors.cpp, independent of the C++ reader.

Debian bookworm has no python3-safetensors, so this writes the fixture bytes by hand, following
the format as the reference implementation lays it out: compact JSON header with "__metadata__"
first, tensors sorted by dtype (wider first) then name, header padded with spaces to a multiple
of 8, no checksum key (a foreign file has none).

  /usr/bin/python3 tools/make_safetensors_fixture.py            # (re)writes the fixture
  /usr/bin/python3 tools/make_safetensors_fixture.py --check F  # validates F, a file written by the C++
                                                      # test with SEMISEG_SAFETENSORS_EXPORT=F
When the `safetensors` package is importable, both modes also run it on the files.
"""
import json
import os
import struct
import sys
import zlib

import numpy as np

FIXTURE = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "safetensors",
                       "from_python.safetensors")

DTYPES = {"F64": "<f8", "I64": "<i8", "F32": "<f4", "I32": "<i4", "U8": "u1"}


def fixture_tensors():
    # Must match the expectations in tests/train/safetensors.cpp.
    return {
        "weight": np.arange(6, dtype="<f4").reshape(2, 3) * np.float32(0.5) - np.float32(1.25),
        "bias": np.array([0.1, -2.5, 1e300], dtype="<f8"),
        "step": np.array([1234567890123], dtype="<i8"),
        "labels": np.array([3, -1, 0, 2147483647], dtype="<i4"),
        "mask": np.array([[0, 255, 7], [1, 2, 3]], dtype="u1"),
        "empty": np.zeros((0, 4), dtype="<f4"),
    }


def serialize(tensors, metadata):
    width = {"F64": 8, "I64": 8, "F32": 4, "I32": 4, "U8": 1}
    def dtype_of(a):
        return {v: k for k, v in DTYPES.items()}[a.dtype.str if a.dtype.str != "|u1" else "u1"]
    order = sorted(tensors, key=lambda n: (-width[dtype_of(tensors[n])], n))
    header = {"__metadata__": metadata} if metadata else {}
    offset = 0
    data = b""
    for name in order:
        a = tensors[name]
        raw = np.ascontiguousarray(a).tobytes()
        header[name] = {"dtype": dtype_of(a), "shape": list(a.shape), "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
        data += raw
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text)) + text + data


def parse(path):
    """Reads a safetensors file by the spec; asserts its structure; returns (tensors, metadata)."""
    blob = open(path, "rb").read()
    (n,) = struct.unpack("<Q", blob[:8])
    assert 8 + n <= len(blob), "header past end"
    assert n % 8 == 0, "header not padded to 8"
    header = json.loads(blob[8:8 + n])
    data = blob[8 + n:]
    metadata = header.pop("__metadata__", {})
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items())
    cursor = 0
    out = {}
    for name, info in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
        begin, end = info["data_offsets"]
        assert begin == cursor, f"{name}: hole or overlap"
        dt = np.dtype(DTYPES[info["dtype"]])
        count = int(np.prod(info["shape"], dtype=np.int64))
        assert end - begin == count * dt.itemsize, f"{name}: size"
        out[name] = np.frombuffer(data[begin:end], dtype=dt).reshape(info["shape"])
        cursor = end
    assert cursor == len(data), "trailing bytes"
    if "semiseg.crc32" in metadata:
        assert metadata["semiseg.crc32"] == "%08x" % (zlib.crc32(data) & 0xFFFFFFFF), "crc mismatch"
    return out, metadata


def try_library(path, expected):
    try:
        from safetensors.numpy import load_file
    except ImportError:
        print("safetensors package not installed; checked with the by-hand parser only")
        return
    loaded = load_file(path)
    for name, a in expected.items():
        np.testing.assert_array_equal(loaded[name], a)
    print("safetensors package reads", path)


def check_exported(path):
    # Must match what tests/train/safetensors.cpp exports.
    expected = {
        "conv.weight": (np.arange(24, dtype="<f4").reshape(2, 3, 4) / np.float32(8)) - np.float32(1),
        "bn.running_mean": np.array([0.25, -0.5, 1e-300], dtype="<f8"),
        "epoch": np.array([7], dtype="<i8"),
        "classes": np.array([-1, 0, 5], dtype="<i4"),
        "flags": np.array([[1, 0], [255, 3]], dtype="u1"),
    }
    tensors, metadata = parse(path)
    assert list(tensors) == list(expected), f"order {list(tensors)}"
    for name, a in expected.items():
        assert tensors[name].dtype == a.dtype, name
        np.testing.assert_array_equal(tensors[name], a)
    assert metadata.get("trainer") == "MeanTeacher", metadata
    assert "semiseg.crc32" in metadata
    try_library(path, expected)
    print("ok:", path, "reads correctly:", ", ".join(f"{k}{list(v.shape)}" for k, v in tensors.items()))


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--check":
        check_exported(sys.argv[2])
        return
    tensors = fixture_tensors()
    blob = serialize(tensors, {"format": "np", "written_by": "tools/make_safetensors_fixture.py"})
    path = os.path.normpath(FIXTURE)
    with open(path, "wb") as f:
        f.write(blob)
    back, _ = parse(path)
    for name, a in tensors.items():
        np.testing.assert_array_equal(back[name], a)
    try_library(path, tensors)
    print("wrote", path, len(blob), "bytes; data order:", list(back))


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""Write the image-reader fixtures: the bad-input corpus and a few small good images.

    /usr/bin/python3 tools/make_bad_inputs.py

Needs only the standard library and numpy. PNG, JPEG, BMP, TGA and TIFF files are written
byte by byte here, so the C++ readers are checked against an encoder that is not their own.
Output: tests/fixtures/bad_inputs/ (files that every reader must reject with a typed error;
tests/fixtures/bad_inputs/README.md says which), tests/fixtures/bad_inputs/folders/ (folder
datasets that must be rejected: one folder per problem) and tests/fixtures/images/ (good files).
The script is deterministic and overwrites only the files it names.
"""

import struct
import zlib
from pathlib import Path

import numpy as np

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures"
BAD = FIXTURES / "bad_inputs"
GOOD = FIXTURES / "images"


# ---------------------------------------------------------------------------
# Encoders
# ---------------------------------------------------------------------------

def png(width, height, bit_depth, colour_type, pixels):
    """pixels: uint8 or big-endian uint16 array of shape (height, width[, channels])."""
    rows = np.ascontiguousarray(pixels).reshape(height, -1).view(np.uint8)
    raw = b"".join(b"\x00" + row.tobytes() for row in rows)

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9))
            + chunk(b"IEND", b""))


def jpeg(blocks):
    """A baseline JPEG whose 8x8 blocks are flat, so only DC coefficients are coded.

    blocks: int array (block_rows, block_cols, components) of component values 0..255 (Y or
    Y, Cb, Cr). Quantisation is all ones; the DC table codes category s as s in 4 bits and the
    AC table holds only end-of-block, coded as a single 0 bit.
    """
    block_rows, block_cols, ncomp = blocks.shape

    def segment(marker, payload):
        return struct.pack(">BBH", 0xFF, marker, len(payload) + 2) + payload

    out = b"\xff\xd8"
    out += segment(0xDB, b"\x00" + bytes([1] * 64))
    out += segment(0xC0, struct.pack(">BHHB", 8, block_rows * 8, block_cols * 8, ncomp)
                   + b"".join(bytes([c + 1, 0x11, 0]) for c in range(ncomp)))
    dc_counts = [0, 0, 0, 12] + [0] * 12
    ac_counts = [1] + [0] * 15
    out += segment(0xC4, b"\x00" + bytes(dc_counts) + bytes(range(12))
                   + b"\x10" + bytes(ac_counts) + b"\x00")
    out += segment(0xDA, bytes([ncomp]) + b"".join(bytes([c + 1, 0x00]) for c in range(ncomp))
                   + b"\x00\x3f\x00")
    bits = []
    predictor = [0] * ncomp
    for r in range(block_rows):
        for c in range(block_cols):
            for k in range(ncomp):
                dc = 8 * (int(blocks[r, c, k]) - 128)  # the DCT's DC term of a flat block
                diff = dc - predictor[k]
                predictor[k] = dc
                size = abs(diff).bit_length()
                bits += [int(b) for b in format(size, "04b")]
                if size:
                    value = diff if diff > 0 else diff + (1 << size) - 1
                    bits += [int(b) for b in format(value, "0%db" % size)]
                bits.append(0)  # end of block
    bits += [1] * (-len(bits) % 8)
    data = bytearray()
    for i in range(0, len(bits), 8):
        byte = int("".join(map(str, bits[i:i + 8])), 2)
        data.append(byte)
        if byte == 0xFF:
            data.append(0)
    return out + bytes(data) + b"\xff\xd9"


def bmp(rgb):
    """24-bit bottom-up BMP of an (height, width, 3) uint8 RGB array."""
    height, width, _ = rgb.shape
    stride = (3 * width + 3) // 4 * 4
    rows = b"".join(rgb[y, :, ::-1].tobytes().ljust(stride, b"\x00") for y in reversed(range(height)))
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, len(rows), 2835, 2835, 0, 0)
    return b"BM" + struct.pack("<IHHI", 14 + len(info) + len(rows), 0, 0, 14 + len(info)) + info + rows


def tga(pixels, top_first):
    """Uncompressed TGA: (height, width) grey or (height, width, 4) RGBA uint8."""
    height, width = pixels.shape[:2]
    if pixels.ndim == 2:
        kind, depth, alpha, data = 3, 8, 0, pixels
    else:
        kind, depth, alpha, data = 2, 32, 8, pixels[:, :, [2, 1, 0, 3]]
    if not top_first:
        data = data[::-1]
    descriptor = alpha | (0x20 if top_first else 0)
    header = struct.pack("<BBBHHBHHHHBB", 0, 0, kind, 0, 0, 0, 0, 0, width, height, depth, descriptor)
    return header + np.ascontiguousarray(data).tobytes()


SHORT, LONG = 3, 4


def tiff_page(width, height, bits, sample_format, strips, samples=1, planar=1):
    """The tags and strips of one uncompressed page; a strip per page, or per plane if planar=2."""
    tags = {256: (LONG, [width]), 257: (LONG, [height]), 258: (SHORT, [bits] * samples),
            259: (SHORT, [1]), 262: (SHORT, [1]), 277: (SHORT, [samples]), 278: (LONG, [height]),
            284: (SHORT, [planar]), 339: (SHORT, [sample_format] * samples)}
    return tags, strips


def tiff(pages):
    """Little-endian TIFF; each page's directory comes before its pixel data."""
    out = bytearray(b"II*\x00\x00\x00\x00\x00")
    link = 4  # where the offset of the next directory goes
    for tags, strips in pages:
        if len(out) % 2:
            out += b"\x00"
        struct.pack_into("<I", out, link, len(out))
        tags = dict(tags)
        tags[279] = (LONG, [len(s) for s in strips])
        tags[273] = (LONG, [0] * len(strips))
        ifd_at = len(out)
        overflow_at = ifd_at + 2 + 12 * len(tags) + 4
        sizes = [(2 if kind == SHORT else 4) * len(values) for kind, values in tags.values()]
        at = overflow_at + sum(s for s in sizes if s > 4)
        offsets = []
        for strip in strips:
            offsets.append(at)
            at += len(strip)
        tags[273] = (LONG, offsets)
        ifd, overflow = struct.pack("<H", len(tags)), b""
        for tag, (kind, values) in sorted(tags.items()):
            raw = struct.pack("<%d%s" % (len(values), "H" if kind == SHORT else "I"), *values)
            if len(raw) <= 4:
                field = raw.ljust(4, b"\x00")
            else:
                field = struct.pack("<I", overflow_at + len(overflow))
                overflow += raw
            ifd += struct.pack("<HHI", tag, kind, len(values)) + field
        link = ifd_at + len(ifd)
        out += ifd + b"\x00\x00\x00\x00" + overflow + b"".join(strips)
    return bytes(out)


def npy_bytes(header_dict_text, data=b"", declared_length=None):
    """An .npy file with a hand-written header (padded like numpy's) and raw data."""
    header = header_dict_text.encode("latin1")
    header += b" " * (63 - (10 + len(header)) % 64) + b"\n"
    length = len(header) if declared_length is None else declared_length
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", length) + header + data


def save(path, data):
    path.write_bytes(data)


def save_npy(path, array):
    with open(path, "wb") as f:
        np.save(f, array, allow_pickle=False)


# ---------------------------------------------------------------------------
# Good images
# ---------------------------------------------------------------------------

def good():
    GOOD.mkdir(parents=True, exist_ok=True)
    # 16x8: a block of 64 beside a block of 192.
    save(GOOD / "grey.jpg", jpeg(np.array([[[64], [192]]])))
    # 16x8, YCbCr: mid grey beside pure red (R, G, B about 254, 0, 0).
    save(GOOD / "rgb.jpg", jpeg(np.array([[[128, 128, 128], [76, 85, 255]]])))
    rgb = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255]],
                    [[10, 20, 30], [40, 50, 60], [70, 80, 90]]], dtype=np.uint8)
    save(GOOD / "rgb.bmp", bmp(rgb))
    save(GOOD / "grey.tga", tga(np.array([[0, 1, 2], [100, 200, 255]], dtype=np.uint8), top_first=True))
    rgba = np.concatenate([rgb, np.array([[[0], [128], [255]], [[1], [2], [3]]], dtype=np.uint8)], axis=2)
    save(GOOD / "rgba.tga", tga(rgba, top_first=False))
    grey16 = np.array([[0, 1, 65535], [256, 4660, 43981]], dtype=">u2")
    save(GOOD / "grey16.png", png(3, 2, 16, 0, grey16))
    save_npy(GOOD / "grid_i2.npy", (np.arange(24) - 12).reshape(2, 3, 4).astype("<i2"))
    save_npy(GOOD / "plane_f4.npy", (np.arange(15).reshape(3, 5) * 0.5 - 2).astype("<f4"))


# ---------------------------------------------------------------------------
# Bad inputs
# ---------------------------------------------------------------------------

def bad():
    BAD.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(20240611)

    save(BAD / "empty.png", b"")
    save(BAD / "wrong_magic.png", b"this is not a PNG file\n")
    noisy = png(16, 16, 8, 2, rng.integers(0, 256, (16, 16, 3), dtype=np.uint8))
    save(BAD / "truncated.png", noisy[: len(noisy) // 2])
    # A DHT segment whose 16 code counts add up to more than a table's 256 entries.
    overflow = bytearray(jpeg(np.array([[[64], [192]]])))
    counts = overflow.index(b"\xff\xc4") + 5
    overflow[counts + 14: counts + 16] = b"\xff\xff"
    save(BAD / "huffman_overflow.jpg", bytes(overflow))
    save(BAD / "unsupported.gif", b"GIF89a\x01\x00\x01\x00\x00\x00\x00;")

    save(BAD / "empty.npy", b"")
    save(BAD / "wrong_magic.npy", b"NUMPY? no, a text file\n")
    save(BAD / "truncated_header.npy", npy_bytes("{'descr': '<f4', ", declared_length=118)[:30])
    save(BAD / "bad_header.npy", npy_bytes("{'descr': '<f4', 'fortran_order': False, }"))
    full = np.arange(16, dtype="<f4").reshape(4, 4).tobytes()
    save(BAD / "truncated.npy",
         npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (4, 4), }", full[: len(full) // 2]))
    save(BAD / "huge_shape.npy",
         npy_bytes("{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296, 16), }"))
    nan = np.zeros((3, 4), dtype="<f4")
    nan[1, 2] = np.nan
    save_npy(BAD / "nan.npy", nan)
    inf = np.ones((2, 3), dtype="<f8")
    inf[0, 1] = -np.inf
    save_npy(BAD / "inf.npy", inf)
    save_npy(BAD / "wrong_rank.npy", np.zeros((1, 2, 3, 4), dtype="<f4"))
    save_npy(BAD / "rank1.npy", np.zeros(5, dtype="<f4"))
    save_npy(BAD / "fortran.npy", np.asfortranarray(np.arange(12, dtype="<f4").reshape(3, 4)))
    save_npy(BAD / "big_endian.npy", np.zeros((2, 2), dtype=">f4"))
    save_npy(BAD / "complex.npy", np.zeros((2, 2), dtype="<c8"))

    save(BAD / "empty.tif", b"")
    save(BAD / "wrong_magic.tif", b"this is not a TIFF file\n")
    plain = tiff([tiff_page(8, 8, 8, 1, [bytes(range(64))])])
    save(BAD / "truncated.tif", plain[: len(plain) - 32])
    # Three 4x3 pages of uint16, value 1000 * page + 10 * row + column: good as a volume.
    stack = [(1000 * p + 10 * np.arange(3)[:, None] + np.arange(4)[None, :]).astype("<u2") for p in range(3)]
    save(BAD / "stack.tif", tiff([tiff_page(4, 3, 16, 1, [s.tobytes()]) for s in stack]))
    save(BAD / "mixed_pages.tif", tiff([tiff_page(4, 4, 8, 1, [bytes(16)]),
                                        tiff_page(5, 3, 8, 1, [bytes(15)])]))
    nan_page = np.zeros((2, 2), dtype="<f4")
    nan_page[1, 0] = np.nan
    save(BAD / "nan.tif", tiff([tiff_page(2, 2, 32, 3, [nan_page.tobytes()])]))
    save(BAD / "one_bit.tif", tiff([tiff_page(8, 2, 1, 1, [b"\xf0\x0f"])]))
    save(BAD / "planar.tif", tiff([tiff_page(2, 2, 8, 1, [bytes(4), bytes(4)], samples=2, planar=2)]))


def folders():
    """Folder datasets, each broken in one way; README.md lists the error each must give."""
    root = BAD / "folders"
    grey = lambda h, w, value: png(w, h, 8, 0, np.full((h, w), value, dtype=np.uint8))
    colour = lambda rgb: png(rgb.shape[1], rgb.shape[0], 8, 2, rgb.astype(np.uint8))
    table = "name,r,g,b\nbackground,0,0,0\nbuilding,255,255,255\n"

    def make(name, files):
        for rel, data in files.items():
            path = root / name / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            save(path, data.encode() if isinstance(data, str) else data)

    make("size_mismatch", {"images/a.png": grey(4, 6, 50), "masks/a.png": grey(4, 5, 1)})
    # One pixel of the mask is red, which the table does not list.
    red = np.zeros((3, 3, 3))
    red[:, 1] = 255
    red[2, 2] = (255, 0, 0)
    make("missing_colour", {"images/a.png": grey(3, 3, 9), "masks/a.png": colour(red), "classes.csv": table})
    make("empty", {"images/.gitkeep": "", "masks/.gitkeep": ""})
    make("unmatched_image", {"images/a.png": grey(2, 2, 1), "images/b.png": grey(2, 2, 1),
                             "masks/a.png": grey(2, 2, 0)})
    make("unmatched_mask", {"images/a.png": grey(2, 2, 1), "masks/a.png": grey(2, 2, 0),
                            "masks/c.png": grey(2, 2, 0)})
    make("class_out_of_range", {"images/a.png": grey(2, 2, 1), "masks/a.png": grey(2, 2, 7)})
    make("duplicate_stem", {"images/a.png": grey(2, 2, 1), "images/a.tif": tiff([tiff_page(2, 2, 8, 1, [bytes(4)])]),
                            "masks/a.png": grey(2, 2, 0)})
    make("bad_image", {"images/a.png": b"", "masks/a.png": grey(2, 2, 0)})
    make("wrong_rank_mask", {"images/a.png": grey(2, 2, 1), "masks/a.npy": b""})
    save_npy(root / "wrong_rank_mask" / "masks" / "a.npy", np.zeros((2, 2, 2, 2), dtype="<u1"))


if __name__ == "__main__":
    good()
    bad()
    folders()

#!/usr/bin/env python3
"""Rebuilds the embedded Fashion-MNIST subset from Debian's dataset-fashion-mnist package.

    apt-get download dataset-fashion-mnist && dpkg-deb -x dataset-fashion-mnist_*.deb pkg
    python3 make_subset.py pkg/usr/share/datasets/fashion-mnist .

Keeps the first 10,000 training and the first 2,000 test images (both files are already in
random order), in the same gzip-compressed IDX layout.
"""
import gzip
import struct
import sys

SPLITS = {"train": 10_000, "t10k": 2_000}


def cut(src, dst, kind, n):
    with gzip.open(src, "rb") as f:
        data = f.read()
    magic, count = struct.unpack(">II", data[:8])
    dims = magic & 0xFF
    shape = struct.unpack(">" + "I" * dims, data[4 : 4 + 4 * dims])
    assert count == shape[0] and n <= count, (src, shape)
    row = 1
    for d in shape[1:]:
        row *= d
    header = struct.pack(">I", magic) + struct.pack(">" + "I" * dims, n, *shape[1:])
    body = data[4 + 4 * dims : 4 + 4 * dims + n * row]
    # mtime=0 so the output is byte-for-byte reproducible.
    with gzip.GzipFile(dst, "wb", compresslevel=9, mtime=0) as f:
        f.write(header + body)
    print(f"{dst}: {kind} {n} of {count}")


def main(src_dir, dst_dir):
    for split, n in SPLITS.items():
        for kind in ("images-idx3", "labels-idx1"):
            name = f"{split}-{kind}-ubyte.gz"
            cut(f"{src_dir}/{name}", f"{dst_dir}/{name}", kind, n)


if __name__ == "__main__":
    main(*sys.argv[1:3])

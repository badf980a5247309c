#!/usr/bin/python3
"""Writes a synthetic Quay storage directory: blobs at sha256/<xx>/<digest>
(the digest IS the sha256 of the content), an uploads/ session to skip and
the _verify key Quay writes.

  gen_store.py DIR COUNT [--seed N] [--profile tiny|quay] [--big-bytes N]

profile tiny: 1-16 KiB blobs (tests). profile quay: 70% 1-32 KiB, 25%
32 KiB-4 MiB, 5% 4-64 MiB (the benchmark's mix), sizes log-uniform inside
each band (layers are mostly small; 5,000 blobs come to ~3.5 GiB). --big-bytes adds one blob
of that size (to cross a multipart threshold). Prints "<objects> <bytes>".
"""
import argparse
import hashlib
import math
import os
import random


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("count", type=int)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--profile", choices=["tiny", "quay"], default="tiny")
    ap.add_argument("--big-bytes", type=int, default=0)
    ap.add_argument("--no-extras", action="store_true")
    a = ap.parse_args()
    rnd = random.Random(a.seed)
    total = 0
    n = 0

    def size():
        if a.profile == "tiny":
            return rnd.randint(1024, 16 * 1024)
        r = rnd.random()
        lo, hi = ((1024, 32 * 1024) if r < 0.70 else
                  (32 * 1024, 4 * 1024 * 1024) if r < 0.95 else
                  (4 * 1024 * 1024, 64 * 1024 * 1024))
        return int(math.exp(rnd.uniform(math.log(lo), math.log(hi))))

    def blob(data):
        d = hashlib.sha256(data).hexdigest()
        p = os.path.join(a.dir, "sha256", d[:2])
        os.makedirs(p, exist_ok=True)
        with open(os.path.join(p, d), "wb") as f:
            f.write(data)
        return len(data)

    for _ in range(a.count):
        total += blob(rnd.randbytes(size()))
        n += 1
    if a.big_bytes:
        total += blob(rnd.randbytes(a.big_bytes))
        n += 1
    if not a.no_extras:
        os.makedirs(os.path.join(a.dir, "uploads"), exist_ok=True)
        with open(os.path.join(a.dir, "uploads", "3f2b7c1e-session"), "wb") as f:
            f.write(rnd.randbytes(5000))
        with open(os.path.join(a.dir, "_verify"), "wb") as f:
            f.write(b"testing")
    print(n, total)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Sparse copy throughput (module_utils/diskops.sparse_copy) against ``cp --sparse=always``.

A 1 GiB image, half random data and half zeros (written zeros, interleaved in 8 MiB runs,
so zero detection is what skips them), copied by both in the same run; the best of
``--runs`` is compared.  Neither flushes to disk (cp does not fsync; sparse_copy is run
with fsync=False here, while the module keeps its default fsync before an unplug).  Prints ``RATIO diskops_sparse_copy_vs_cp <x>`` (>= 0.9 is the target).
Standalone: python3 bench/diskops_sparse_copy.py [--size-mib 1024] [--runs 3] [--dir /var/tmp]
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def import_diskops():
    root = os.path.dirname(HERE)
    try:
        from ansible_collections.novaops.compute.plugins.module_utils import diskops
        return diskops
    except ImportError:
        pass
    tmp = tempfile.mkdtemp(prefix="bench-coll-")
    os.makedirs(os.path.join(tmp, "ansible_collections", "novaops"))
    os.symlink(root, os.path.join(tmp, "ansible_collections", "novaops", "compute"))
    sys.path.insert(0, tmp)
    from ansible_collections.novaops.compute.plugins.module_utils import diskops
    return diskops


def make_image(path, size):
    run = 8 * 1024 * 1024
    data = os.urandom(run)
    zeros = bytes(run)
    with open(path, "wb") as f:
        for i in range(size // run):
            f.write(data if i % 2 == 0 else zeros)
        f.flush()
        os.fsync(f.fileno())


def timed(fn):
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--dir", default=None)
    args = ap.parse_args()
    diskops = import_diskops()
    size = args.size_mib * 1024 * 1024
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="bench-sparse-") as tmp:
        src = os.path.join(tmp, "src.img")
        make_image(src, size)
        subprocess.run(["cat", src], stdout=subprocess.DEVNULL, check=True)   # warm the page cache for both
        cp_times, ours_times = [], []
        for i in range(args.runs):
            dst_cp = os.path.join(tmp, "cp-%d.img" % i)
            dst_ours = os.path.join(tmp, "ours-%d.img" % i)
            cp_times.append(timed(lambda: subprocess.run(["cp", "--sparse=always", src, dst_cp], check=True)))
            stats = {}
            ours_times.append(timed(lambda: stats.update(diskops.sparse_copy(src, dst_ours, fsync=False))))
            if subprocess.run(["cmp", "-s", src, dst_ours]).returncode != 0:
                raise SystemExit("sparse_copy produced a different file")
            os.unlink(dst_cp)
            os.unlink(dst_ours)
        mib = size / 1048576.0
        cp_best, ours_best = min(cp_times), min(ours_times)
        print("cp --sparse=always: %.0f MiB/s (best of %d)" % (mib / cp_best, args.runs))
        print("diskops.sparse_copy: %.0f MiB/s (best of %d), copied %d, skipped %d bytes"
              % (mib / ours_best, args.runs, stats["bytes_copied"], stats["bytes_skipped"]))
        print("RATIO diskops_sparse_copy_vs_cp %.2f" % (cp_best / ours_best))


if __name__ == "__main__":
    main()

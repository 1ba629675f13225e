"""What several benchmarks share: a checked shell call and the collection tree they run the modules from.

A module of bench/ whose name starts with ``_`` is no benchmark (run.py passes it over); a benchmark
imports it as ``_kit`` (bench/ is its script's directory, first on sys.path).
"""

import os
import subprocess

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def sh(argv, **kwargs):
    """argv run to its end; its output as text. Fails on a non-zero exit."""
    return subprocess.run(argv, check=True, capture_output=True, text=True, **kwargs)


def build_collection(build):
    """The tree ansible-test would see (as `make collection`), copied to <build>/ansible_collections/novaops/compute:
    its path."""
    coll = os.path.join(build, "ansible_collections", "novaops", "compute")
    os.makedirs(coll, exist_ok=True)
    sh(["rsync", "-a", "--delete", "--exclude-from=%s/tools/ci/not-in-tree" % REPO, REPO + "/", coll + "/"])
    return coll

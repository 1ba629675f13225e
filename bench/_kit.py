"""What several benchmarks share: a checked shell call and the collection tree they run the modules from.

A module of bench/ whose name starts with ``_`` is no benchmark (run.py passes it over); a benchmark
imports it as ``_kit`` (bench/ is its script's directory, first on sys.path).
"""

import contextlib
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


@contextlib.contextmanager
def high_priority(nice=-15):
    """Run at a raised priority, the session's autogroup's and this process's (as root); put back after.

    On the shared machine other work took most of the CPU from a timed run, whatever its nice
    value: the kernel's autogroups share the CPU between sessions first.  Both sides of a
    comparison run inside this, at the same priority.
    """
    group = "/proc/self/autogroup"
    before = None
    try:
        with open(group) as f:
            before = int(f.read().split()[-1])
        with open(group, "w") as f:
            f.write(str(nice))
    except (OSError, ValueError, IndexError):
        before = None
    try:
        old_nice = os.getpriority(os.PRIO_PROCESS, 0)
        os.setpriority(os.PRIO_PROCESS, 0, nice)
    except OSError:
        old_nice = None
    try:
        yield
    finally:
        if old_nice is not None:
            os.setpriority(os.PRIO_PROCESS, 0, old_nice)
        if before is not None:
            with open(group, "w") as f:
                f.write(str(before))

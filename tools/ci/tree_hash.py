"""A short hash of a tree's files (names, modes and contents) and of some words, for the Makefile's
"passed on this very tree before" stamps of sanity and unit.

    tree_hash.py <dir>[:<dir>...] [<word>...]

Left out: what the runs themselves write into the ansible-test tree (tests/output, the integration
config, __pycache__), so that a test run does not change the hash of what it tested.
"""

import hashlib
import os
import sys

LEFT_OUT_DIRS = {"__pycache__", ".pytest_cache"}
LEFT_OUT_PATHS = {os.path.join("tests", "output"), os.path.join("tests", "integration", "integration_config.yml")}


def tree_hash(roots, words=()):
    digest = hashlib.sha256("\0".join(words).encode())
    for root in roots:
        digest.update(b"\0root\0%s" % root.encode())
        _add_tree(digest, root)
    return digest.hexdigest()[:16]


def _add_tree(digest, root):
    for top, dirs, files in os.walk(root):
        rel_top = os.path.relpath(top, root)
        dirs[:] = sorted(d for d in dirs if d not in LEFT_OUT_DIRS and
                         os.path.normpath(os.path.join(rel_top, d)) not in LEFT_OUT_PATHS)
        for name in sorted(files):
            rel = os.path.normpath(os.path.join(rel_top, name))
            if rel in LEFT_OUT_PATHS or name.endswith(".pyc"):
                continue
            path = os.path.join(top, name)
            digest.update(b"\0%s\0%o\0" % (rel.encode(), os.lstat(path).st_mode))
            if os.path.islink(path):
                digest.update(os.readlink(path).encode())
            else:
                with open(path, "rb") as handle:
                    digest.update(hashlib.sha256(handle.read()).digest())


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__.strip().splitlines()[3].strip())
    print(tree_hash(sys.argv[1].split(":"), sys.argv[2:]))

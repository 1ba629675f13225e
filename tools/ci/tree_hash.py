"""A short hash of a tree's files (names, modes and contents) and of some words, for the Makefile's
"passed on this very tree before" stamps of sanity, unit and fresh-check.

    tree_hash.py <dir or file>[:<dir or file>...] [<word>...]

A root is hashed under the name it is given: relative names (run from the checkout) give the same
hash in every checkout of the same files, which fresh-check's machine-wide stamp relies on.

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
    if not os.path.isdir(root):
        _add_file(digest, root, os.path.basename(root))
        return
    for top, dirs, files in os.walk(root):
        rel_top = os.path.relpath(top, root)
        dirs[:] = sorted(d for d in dirs if d not in LEFT_OUT_DIRS and
                         os.path.normpath(os.path.join(rel_top, d)) not in LEFT_OUT_PATHS)
        for name in sorted(files):
            rel = os.path.normpath(os.path.join(rel_top, name))
            if rel in LEFT_OUT_PATHS or name.endswith(".pyc"):
                continue
            _add_file(digest, os.path.join(top, name), rel)


def _add_file(digest, path, rel):
    """Name, mode and content; a missing file counts too (as missing)."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        digest.update(b"\0%s\0missing\0" % rel.encode())
        return
    digest.update(b"\0%s\0%o\0" % (rel.encode(), mode))
    if os.path.islink(path):
        digest.update(os.readlink(path).encode())
    else:
        with open(path, "rb") as handle:
            digest.update(hashlib.sha256(handle.read()).digest())


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__.strip().splitlines()[3].strip())
    print(tree_hash(sys.argv[1].split(":"), sys.argv[2:]))

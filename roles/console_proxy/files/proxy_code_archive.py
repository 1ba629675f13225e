# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""python proxy_code_archive.py <collection root>: the console proxy's code as one tar archive.

Runs on the controller (the console_proxy role unpacks the archive on the console host in one
step). Holds the entry point and only the collection files the proxy imports: the import closure
of ``module_utils/console_proxy/server.py``, found by reading the sources, not a list to keep.
Members are owned by root with fixed modes and a fixed time, so the same code gives the same
archive on any controller and unpacking it again changes nothing. Prints the path of the archive
(a new temporary file; the role removes it).
"""

from __future__ import annotations

import ast
import io
import os
import sys
import tarfile
import tempfile

PREFIX = "ansible_collections.novaops.compute."
ROOT_MODULE = PREFIX + "plugins.module_utils.console_proxy.server"
ENTRY_POINT = os.path.join("roles", "console_proxy", "files", "novaops-console-proxy")
MTIME = 1577836800        # 2020-01-01: fixed; unarchive compares contents, a checkout's times differ


def module_file(root, name):
    """The file of collection module ``name`` (dotted, with PREFIX), or None when it is not one."""
    base = os.path.join(root, *name[len(PREFIX):].split("."))
    for path in (base + ".py", os.path.join(base, "__init__.py")):
        if os.path.isfile(path):
            return path
    return None


def imported_names(path):
    """The collection modules a source imports, also inside functions (imported where used)."""
    with open(path, encoding="utf-8") as handle:
        tree = ast.parse(handle.read(), path)
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
            names.extend(node.module + "." + alias.name for alias in node.names)
    return [name for name in names if name.startswith(PREFIX)]


def closure(root):
    """Paths relative to root of every collection file the proxy's server imports, and their packages' __init__."""
    seen, todo = set(), [ROOT_MODULE]
    while todo:
        path = module_file(root, todo.pop())
        if path is None or path in seen:
            continue
        seen.add(path)
        todo.extend(imported_names(path))
        package = os.path.dirname(path)
        while package != root:
            init = os.path.join(package, "__init__.py")
            if os.path.isfile(init):
                seen.add(init)
            package = os.path.dirname(package)
    return sorted(os.path.relpath(path, root) for path in seen)


def member(name, mode, size=0, directory=False):
    """A root-owned archive member with a fixed time."""
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE if directory else tarfile.REGTYPE
    info.size, info.mode, info.mtime = size, mode, MTIME
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info


def add_file(archive, name, source, mode):
    with open(source, "rb") as handle:
        data = handle.read()
    archive.addfile(member(name, mode, len(data)), io.BytesIO(data))


def write(root, out):
    files = closure(root)
    dirs = sorted({os.path.dirname(os.path.join("collections", "ansible_collections", "novaops", "compute", f))
                   for f in files})
    with tarfile.open(out, "w", format=tarfile.GNU_FORMAT) as archive:
        for path in sorted({parent for d in dirs for parent in parents(d)}):
            archive.addfile(member(path, 0o755, directory=True))
        add_file(archive, "novaops-console-proxy", os.path.join(root, ENTRY_POINT), 0o755)
        for rel in files:
            add_file(archive, os.path.join("collections", "ansible_collections", "novaops", "compute", rel),
                     os.path.join(root, rel), 0o644)
    return files


def parents(path):
    """path and each directory above it (relative paths)."""
    while path:
        yield path
        path = os.path.dirname(path)


def main(argv):
    if len(argv) != 2:
        sys.stderr.write(__doc__)
        return 2
    handle, out = tempfile.mkstemp(prefix="novaops-console-proxy-", suffix=".tar")
    os.close(handle)
    write(os.path.abspath(argv[1]), out)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

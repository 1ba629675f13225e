# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The console_proxy role's code archive (#23): only the files the proxy imports, enough to import
it from the unpacked archive alone; the same bytes on every build (unpacking again changes nothing)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tarfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", ".."))
SCRIPT = os.path.join(ROOT, "roles", "console_proxy", "files", "proxy_code_archive.py")
UTILS = "collections/ansible_collections/novaops/compute/plugins/module_utils/"


def _script():
    spec = importlib.util.spec_from_file_location("proxy_code_archive", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_only_what_the_proxy_imports(tmp_path):
    out = tmp_path / "code.tar"
    _script().write(ROOT, str(out))
    with tarfile.open(out) as archive:
        names = archive.getnames()
        members = archive.getmembers()
    assert "novaops-console-proxy" in names
    assert UTILS + "console_proxy/server.py" in names
    assert UTILS + "xenapi/session.py" in names             # imported inside a function
    assert UTILS + "libvirt/console_target.py" in names
    assert not any(name.startswith(UTILS + "glance/") for name in names)
    assert UTILS + "xenapi/vm.py" not in names
    assert len([n for n in names if n.endswith(".py")]) < 30
    assert {(m.uid, m.gid, m.mtime) for m in members} == {(0, 0, 1577836800)}


def test_the_same_bytes_each_build(tmp_path):
    script = _script()
    script.write(ROOT, str(tmp_path / "a.tar"))
    script.write(ROOT, str(tmp_path / "b.tar"))
    assert (tmp_path / "a.tar").read_bytes() == (tmp_path / "b.tar").read_bytes()


def test_the_proxy_imports_from_the_archive_alone(tmp_path):
    out = tmp_path / "code.tar"
    _script().write(ROOT, str(out))
    with tarfile.open(out) as archive:
        archive.extractall(tmp_path / "opt", filter="data")
    code = ("import sys; sys.path.insert(0, sys.argv[1]); p = 'ansible_collections.novaops.compute.plugins.module_utils.'; "
            "[__import__(p + m) for m in ('console_proxy.server', 'libvirt.console_target', "
            "'xenapi.console_target', 'xenapi.session')]; "
            "print(sys.modules[p + 'console_proxy.server'].__file__)")
    done = subprocess.run([sys.executable, "-I", "-c", code, str(tmp_path / "opt" / "collections")],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(str(tmp_path / "opt"))

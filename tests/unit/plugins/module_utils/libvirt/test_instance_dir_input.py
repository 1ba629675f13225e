# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""InstanceDir refuses an instances_path that is a file, a device or a link to one (#13 corpus)."""

from __future__ import annotations

import os

import pytest

from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError
from ansible_collections.novaops.compute.plugins.module_utils.libvirt.instance_dir import InstanceDir

UUID = "6b8b4567-327b-4c23-9e10-0123456789ab"


@pytest.mark.parametrize("path", ["/etc/hostname", "/dev/zero", "/proc/self/environ"])
def test_an_instances_path_that_is_no_directory_is_refused(path):
    with pytest.raises(NovaopsError) as failed:
        InstanceDir(path, UUID)
    assert "not a directory" in failed.value.msg or "is a symbolic link" in failed.value.msg   # /proc/self


def test_a_link_to_a_file_is_refused_and_a_missing_or_real_directory_taken(tmp_path):
    target = tmp_path / "file"
    target.write_text("x")
    os.symlink(str(target), str(tmp_path / "link"))
    with pytest.raises(NovaopsError):
        InstanceDir(str(tmp_path / "link"), UUID)
    assert InstanceDir(str(tmp_path / "missing"), UUID).path == str(tmp_path / "missing" / UUID)
    assert InstanceDir(str(tmp_path), UUID).path == str(tmp_path / UUID)


@pytest.mark.parametrize("name", ["a" * 256, "disk\nx", " disk", "disk ", "\t"])
def test_disk_names_that_are_no_plain_file_name(tmp_path, name):
    with pytest.raises(NovaopsError, match="not a plain file name"):
        InstanceDir(str(tmp_path), UUID).file(name)


def test_plain_disk_names(tmp_path):
    idir = InstanceDir(str(tmp_path), UUID)
    for name in ("disk", "disk.local", "--help", "\u540d\u524d.raw", "a" * 255):
        assert idir.file(name) == str(tmp_path / UUID / name)

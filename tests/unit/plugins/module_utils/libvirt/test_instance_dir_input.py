# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""InstanceDir refuses an instances_path that is a file, a device or a link to one (#13 corpus)."""

from __future__ import annotations

import os

import pytest

from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError
from ansible_collections.novaops.compute.plugins.module_utils.libvirt.instance_dir import InstanceDir
from ansible_collections.novaops.compute.tests.unit.plugins.canaries import KINDS, Canaries, plant

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


# -- #18 item 4: whatever is planted at a name of the instance directory is refused -----------------
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", ["disk", "disk.local", "libvirt.xml", "unrescue.xml"])
def test_a_plant_at_a_name_of_the_instance_is_refused_and_its_target_untouched(tmp_path, kind, name):
    with Canaries(str(tmp_path / "outside")) as canaries:
        idir = InstanceDir(str(tmp_path / "inst"), UUID)
        idir.create()
        plant(kind, os.path.join(idir.path, name), canaries.make("c"), canaries)
        canaries.reset()
        for operation in (lambda: idir.file(name), lambda: idir.has(name), lambda: idir.read(name),
                          lambda: idir.write(name, "<domain/>"), lambda: idir.reserve(name)):
            with pytest.raises(NovaopsError):
                operation()
        assert canaries.problems() == []


def test_an_instance_directory_that_is_a_link_is_refused(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "inst").mkdir()
    os.symlink(str(elsewhere), str(tmp_path / "inst" / UUID))
    idir = InstanceDir(str(tmp_path / "inst"), UUID)
    with pytest.raises(NovaopsError, match="symbolic link"):
        idir.file("disk")
    with pytest.raises(NovaopsError, match="symbolic link"):
        idir.write("libvirt.xml", "<domain/>")
    assert os.listdir(str(elsewhere)) == []


def test_a_disk_made_through_the_instance_directory_is_a_new_file_there(tmp_path):
    idir = InstanceDir(str(tmp_path / "inst"), UUID)
    idir.create()
    path = idir.reserve("disk")
    assert path == os.path.join(idir.path, "disk") and os.path.getsize(path) == 0 and not os.path.islink(path)
    with pytest.raises(NovaopsError, match="exists already"):
        idir.reserve("disk")

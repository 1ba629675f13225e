# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""confined.Root: files under a root reached without following links, on the real filesystem (#18).

Every plant (a symbolic link, a dangling one, a hard link, a FIFO) aims at a canary outside the
root, watched with inotify: it must stay unread, unchanged and present whatever is asked.
"""

from __future__ import annotations

import os
import stat

import pytest

from ansible_collections.novaops.compute.plugins.module_utils.common.confined import (
    LinkRefused, Root, check_plain_file, open_plain_file)
from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError
from ansible_collections.novaops.compute.tests.unit.plugins.canaries import KINDS, Canaries, plant


@pytest.fixture
def canaries(tmp_path):
    with Canaries(str(tmp_path / "outside")) as watched:
        yield watched


@pytest.fixture
def root(tmp_path):
    (tmp_path / "root" / "sub").mkdir(parents=True)
    return Root(str(tmp_path / "root"), "instances_path")


def planted(root, canaries, kind, rel="sub/f"):
    canary = canaries.make("c-%s" % kind)
    plant(kind, root.path_of(rel), canary, canaries)
    canaries.reset()
    return canary


@pytest.mark.parametrize("kind", KINDS)
def test_every_operation_on_a_plant_is_refused_and_the_canary_untouched(root, canaries, kind):
    planted(root, canaries, kind)
    for operation in (lambda: root.open("sub/f"), lambda: root.read_text("sub/f"), lambda: root.isfile("sub/f"),
                      lambda: root.create("sub/f", replace=True), lambda: root.reserve("sub/f", replace=True),
                      lambda: root.write_atomic("sub/f", "x"), lambda: root.chmod("sub/f", 0o644),
                      lambda: root.chown("sub/f", 0, 0), lambda: root.tool_path("sub/f"),
                      lambda: root.open("sub/f", os.O_RDWR | os.O_CREAT)):
        with pytest.raises(LinkRefused):
            operation()
    assert canaries.problems() == []


@pytest.mark.parametrize("kind", ["symlink", "dangling"])
def test_a_linked_directory_anywhere_on_the_way_is_refused(tmp_path, canaries, kind):
    elsewhere = tmp_path / "outside" / "dir"
    elsewhere.mkdir(parents=True)
    (tmp_path / "root").mkdir()
    os.symlink(str(elsewhere) if kind == "symlink" else str(tmp_path / "nowhere"), str(tmp_path / "root" / "sub"))
    root = Root(str(tmp_path / "root"), "instances_path")
    for operation in (lambda: root.create("sub/f"), lambda: root.mkdir("sub/g"), lambda: root.rmtree("sub"),
                      lambda: root.listdir("sub"), lambda: root.write_atomic("sub/f", "x"),
                      lambda: root.rename("sub/a", "b")):
        with pytest.raises(NovaopsError):
            operation()
    assert os.listdir(str(elsewhere)) == [] and not (tmp_path / "nowhere").exists()
    assert os.path.islink(str(tmp_path / "root" / "sub"))     # refused, not removed either


def test_the_root_itself_and_its_ancestors_must_be_no_links(tmp_path):
    (tmp_path / "real" / "instances").mkdir(parents=True)
    os.symlink(str(tmp_path / "real"), str(tmp_path / "alias"))
    os.symlink(str(tmp_path / "real" / "instances"), str(tmp_path / "linked"))
    for path in (tmp_path / "alias" / "instances", tmp_path / "linked"):
        with pytest.raises(LinkRefused, match="is a symbolic link.*give a path without links") as refused:
            Root(str(path), "instances_path").mkdir("x")
        assert str(tmp_path / "real") in refused.value.msg and "instances_path" in refused.value.msg
    assert os.listdir(str(tmp_path / "real" / "instances")) == []


def test_create_is_exclusive_and_replace_removes_only_a_plain_file(root):
    fd = root.create("sub/f", mode=0o600)
    os.write(fd, b"one")
    os.close(fd)
    with pytest.raises(NovaopsError, match="exists already"):
        root.create("sub/f")
    os.close(root.create("sub/f", replace=True))
    assert os.path.getsize(root.path_of("sub/f")) == 0
    assert stat.S_IMODE(os.stat(root.path_of("sub/f")).st_mode) == 0o600


def test_rename_unlink_and_rmtree_act_on_links_never_through_them(root, canaries, tmp_path):
    canary = canaries.make("c")
    outside_dir = tmp_path / "outside" / "d"
    outside_dir.mkdir()
    (outside_dir / "keep").write_text("x")
    os.symlink(canary, root.path_of("sub/l1"))
    os.symlink(str(outside_dir), root.path_of("sub/l2"))
    canaries.reset()
    root.rename("sub/l1", "sub/l3")
    assert os.readlink(root.path_of("sub/l3")) == canary
    root.unlink("sub/l3")
    root.rmtree("sub")
    assert not os.path.exists(root.path_of("sub"))
    assert os.listdir(str(outside_dir)) == ["keep"]
    assert canaries.problems() == []


def test_rmtree_refuses_a_link_in_its_own_place(root, tmp_path):
    (tmp_path / "outside").mkdir()
    os.symlink(str(tmp_path / "outside"), root.path_of("gone"))
    with pytest.raises(LinkRefused, match="not a directory"):
        root.rmtree("gone")


def test_paths_that_would_leave_the_root_are_refused(root):
    for rel in ("../x", "sub/../../x", ("sub", ".."), ("a/b",)):
        with pytest.raises(NovaopsError, match="would leave"):
            root.create(rel)


def test_write_atomic_and_read_text(root):
    root.write_atomic("sub/rec.json", "{}", mode=0o600)
    assert root.read_text("sub/rec.json") == "{}"
    assert root.read_text("sub/missing") is None
    assert stat.S_IMODE(os.stat(root.path_of("sub/rec.json")).st_mode) == 0o600
    assert sorted(os.listdir(root.path_of("sub"))) == ["rec.json"]


def test_mkdtemp_makes_a_private_directory(root):
    name = root.mkdtemp("web1-vda-")
    assert name.startswith("web1-vda-") and stat.S_IMODE(os.stat(root.path_of(name)).st_mode) == 0o700


@pytest.mark.parametrize("kind", KINDS)
def test_a_plain_file_named_by_an_option(tmp_path, canaries, kind):
    (tmp_path / "in").mkdir()
    planted_at = str(tmp_path / "in" / "image.qcow2")
    plant(kind, planted_at, canaries.make("c"), canaries)
    canaries.reset()
    with pytest.raises(LinkRefused):
        check_plain_file(planted_at, "image.path")
    with pytest.raises(LinkRefused):
        open_plain_file(planted_at, "image.path")
    assert canaries.problems() == []
    assert check_plain_file(str(tmp_path / "in" / "missing"), "image.path", missing_ok=True)
    (tmp_path / "in" / "real").write_bytes(b"data")
    fd = open_plain_file(str(tmp_path / "in" / "real"), "image.path")
    assert os.read(fd, 10) == b"data"
    os.close(fd)

# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The resize record: where it lies says how far a resize got."""

from __future__ import annotations

import os
import re
import stat

import pytest

from ansible_collections.novaops.compute.plugins.module_utils.libvirt import resize_record as rr
from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError
from ansible_collections.novaops.compute.plugins.module_utils.libvirt.instance_dir import InstanceDir

UUID = "0f4b8ae3-8bd7-5d56-9b0a-3b5b0a1d2c3e"


@pytest.fixture
def idir(tmp_path):
    directory = InstanceDir(str(tmp_path), UUID)
    directory.create()
    return directory


def test_no_record_no_resize(idir):
    assert rr.locate(idir) == (None, None)


def test_the_record_follows_the_directory_through_the_phases(idir):
    rr.write_old_xml(idir, idir.uuid, "<domain/>")
    rr.write(idir, idir.uuid, dict(phase=rr.MIGRATING, prior_state="running", copied={}))
    where, record = rr.locate(idir)
    assert where == idir.uuid and record["phase"] == rr.MIGRATING and record["format"] == rr.FORMAT

    os.rename(idir.path, idir.resize_path)
    os.mkdir(idir.path)                      # the same-host copy takes the old place
    where, record = rr.locate(idir)
    assert where == idir.resize_name
    rr.mark_copied(idir, where, "disk", 42)
    rr.mark_copied(idir, where, "disk.local", 7)
    assert rr.set_phase(idir, where, rr.MIGRATED)["copied"] == {"disk": 42, "disk.local": 7}
    assert rr.read_old_xml(idir, where) == "<domain/>"

    os.rmdir(idir.path)
    rr.set_phase(idir, where, rr.REVERTING)
    os.rename(idir.resize_path, idir.path)
    assert rr.locate(idir)[1]["phase"] == rr.REVERTING
    rr.remove(idir, idir.uuid)
    assert rr.locate(idir) == (None, None)
    assert os.listdir(idir.path) == []


def test_record_files_are_private(idir):
    rr.write_old_xml(idir, idir.uuid, "<domain><graphics passwd='secret'/></domain>")
    rr.write(idir, idir.uuid, dict(phase=rr.MIGRATING))
    for name in (rr.RECORD, rr.OLD_XML):
        assert stat.S_IMODE(os.stat(os.path.join(idir.path, name)).st_mode) == 0o600


def test_a_resize_dir_without_a_record_is_not_ours(idir):
    os.mkdir(idir.resize_path)
    with pytest.raises(NovaopsError, match="was not made by this module"):
        rr.locate(idir)


@pytest.mark.parametrize("text", ["{not json", '{"phase": "exploding"}', "[]"])
def test_a_damaged_record_is_refused_clearly(idir, text):
    with open(os.path.join(idir.path, rr.RECORD), "w") as handle:
        handle.write(text)
    with pytest.raises(NovaopsError, match="resize record"):
        rr.locate(idir)


def test_a_missing_old_definition_is_a_clear_error(idir):
    with pytest.raises(NovaopsError, match="kept for revert"):
        rr.read_old_xml(idir, idir.uuid)


def test_discard_removes_the_record_last(idir, monkeypatch):
    os.mkdir(idir.resize_path)
    rr.write(idir, idir.resize_name, dict(phase=rr.MIGRATED))
    rr.write_old_xml(idir, idir.resize_name, "<domain/>")
    for name in ("disk", "disk.local"):
        with open(os.path.join(idir.resize_path, name), "wb") as handle:
            handle.write(b"x")
    os.mkdir(os.path.join(idir.resize_path, "console"))

    real_unlink = os.unlink
    calls = []

    def failing_unlink(path, *args, **kwargs):
        calls.append(os.path.basename(path))
        if os.path.basename(path) == "disk.local":
            raise OSError(5, "Input/output error")
        real_unlink(path, *args, **kwargs)

    monkeypatch.setattr(os, "unlink", failing_unlink)
    with pytest.raises(NovaopsError, match="Input/output error"):
        rr.discard(idir, idir.resize_name)
    monkeypatch.setattr(os, "unlink", real_unlink)
    assert rr.locate(idir)[1]["phase"] == rr.MIGRATED     # interrupted: found again
    rr.discard(idir, idir.resize_name)
    assert not os.path.exists(idir.resize_path)


@pytest.mark.parametrize("phase,moved,says", [
    (rr.MIGRATED, True, "is resized and waits for confirm or revert (Nova's RESIZED); a hard reboot is refused "
                        "until then: confirm or revert the resize first. Nothing was changed."),
    (rr.MIGRATING, True, "half way through a resize"),
    (rr.MIGRATING, False, "finish the resize (run it again) or revert it first"),
    (rr.REVERTING, False, "finish the revert (revert again) first"),
])
def test_operations_are_refused_while_a_resize_is_not_over(idir, phase, moved, says):
    rr.write(idir, idir.uuid, dict(phase=phase, prior_state="running", copied={}))
    if moved:
        os.rename(idir.path, idir.resize_path)
    with pytest.raises(NovaopsError, match=re.escape(says)) as refused:
        rr.refuse_during(idir, "Domain web1", "a hard reboot")
    assert refused.value.msg.startswith("Domain web1 is ") and refused.value.facts == dict(resize_status=phase)


def test_no_resize_nothing_refused(idir):
    rr.refuse_during(idir, "Domain web1", "a hard reboot")


# -- links planted where the record lies (#18) ---------------------------------------------------
def test_a_record_that_is_a_link_is_refused_and_its_target_never_written(idir, tmp_path):
    canary = tmp_path / "canary"
    canary.write_text("canary")
    os.symlink(str(canary), os.path.join(idir.path, rr.RECORD))
    with pytest.raises(NovaopsError, match="symbolic link"):
        rr.locate(idir)
    with pytest.raises(NovaopsError, match="symbolic link"):
        rr.write(idir, idir.uuid, dict(phase=rr.MIGRATING))
    assert canary.read_text() == "canary"


def test_a_resize_dir_that_is_a_link_is_refused_and_nothing_behind_it_removed(idir, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / rr.RECORD).write_text('{"phase": "migrated"}')
    (elsewhere / "precious").write_text("x")
    os.symlink(str(elsewhere), idir.resize_path)
    with pytest.raises(NovaopsError, match="not a directory|symbolic link"):
        rr.locate(idir)
    with pytest.raises(NovaopsError, match="symbolic link"):
        rr.discard(idir, idir.resize_name)
    assert sorted(os.listdir(elsewhere)) == ["precious", rr.RECORD]

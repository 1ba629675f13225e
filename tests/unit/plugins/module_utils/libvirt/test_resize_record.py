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
    rr.write_old_xml(idir.path, "<domain/>")
    rr.write(idir.path, dict(phase=rr.MIGRATING, prior_state="running", copied={}))
    where, record = rr.locate(idir)
    assert where == idir.path and record["phase"] == rr.MIGRATING and record["format"] == rr.FORMAT

    os.rename(idir.path, idir.resize_path)
    os.mkdir(idir.path)                      # the same-host copy takes the old place
    where, record = rr.locate(idir)
    assert where == idir.resize_path
    rr.mark_copied(where, "disk", 42)
    rr.mark_copied(where, "disk.local", 7)
    assert rr.set_phase(where, rr.MIGRATED)["copied"] == {"disk": 42, "disk.local": 7}
    assert rr.read_old_xml(where) == "<domain/>"

    os.rmdir(idir.path)
    rr.set_phase(where, rr.REVERTING)
    os.rename(idir.resize_path, idir.path)
    assert rr.locate(idir)[1]["phase"] == rr.REVERTING
    rr.remove(idir.path)
    assert rr.locate(idir) == (None, None)
    assert os.listdir(idir.path) == []


def test_record_files_are_private(idir):
    rr.write_old_xml(idir.path, "<domain><graphics passwd='secret'/></domain>")
    rr.write(idir.path, dict(phase=rr.MIGRATING))
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
        rr.read_old_xml(idir.path)


def test_discard_removes_the_record_last(idir, monkeypatch):
    os.mkdir(idir.resize_path)
    rr.write(idir.resize_path, dict(phase=rr.MIGRATED))
    rr.write_old_xml(idir.resize_path, "<domain/>")
    for name in ("disk", "disk.local"):
        with open(os.path.join(idir.resize_path, name), "wb") as handle:
            handle.write(b"x")
    os.mkdir(os.path.join(idir.resize_path, "console"))

    real_unlink = os.unlink
    calls = []

    def failing_unlink(path):
        calls.append(os.path.basename(path))
        if os.path.basename(path) == "disk.local":
            raise OSError(5, "Input/output error")
        real_unlink(path)

    monkeypatch.setattr(os, "unlink", failing_unlink)
    with pytest.raises(OSError):
        rr.discard(idir.resize_path)
    monkeypatch.setattr(os, "unlink", real_unlink)
    assert rr.locate(idir)[1]["phase"] == rr.MIGRATED     # interrupted: found again
    rr.discard(idir.resize_path)
    assert not os.path.exists(idir.resize_path)


@pytest.mark.parametrize("phase,moved,says", [
    (rr.MIGRATED, True, "is resized and waits for confirm or revert (Nova's RESIZED); a hard reboot is refused "
                        "until then: confirm or revert the resize first. Nothing was changed."),
    (rr.MIGRATING, True, "half way through a resize"),
    (rr.MIGRATING, False, "finish the resize (run it again) or revert it first"),
    (rr.REVERTING, False, "finish the revert (revert again) first"),
])
def test_operations_are_refused_while_a_resize_is_not_over(idir, phase, moved, says):
    rr.write(idir.path, dict(phase=phase, prior_state="running", copied={}))
    if moved:
        os.rename(idir.path, idir.resize_path)
    with pytest.raises(NovaopsError, match=re.escape(says)) as refused:
        rr.refuse_during(idir, "Domain web1", "a hard reboot")
    assert refused.value.msg.startswith("Domain web1 is ") and refused.value.facts == dict(resize_status=phase)


def test_no_resize_nothing_refused(idir):
    rr.refuse_during(idir, "Domain web1", "a hard reboot")

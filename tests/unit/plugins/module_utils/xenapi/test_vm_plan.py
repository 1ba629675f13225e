# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import pytest

from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError
from ansible_collections.novaops.compute.plugins.module_utils.xenapi import vm_plan as vp

GIB = 1024 ** 3


@pytest.mark.parametrize("current,target,steps", [
    ("halted", "running", ["start"]),
    ("suspended", "running", ["resume"]),
    ("paused", "running", ["unpause"]),
    ("running", "running", []),
    ("running", "halted", ["clean_shutdown"]),
    ("paused", "halted", ["hard_shutdown"]),
    ("running", "suspended", ["suspend"]),
    ("paused", "suspended", ["unpause", "suspend"]),
    ("running", "paused", ["pause"]),
    ("halted", "paused", ["start_paused"]),
    ("suspended", "paused", ["resume_paused"]),
    ("Running", "present", []),
    ("halted", "absent", []),
    ("halted", "rebooted", ["start"]),
    ("running", "rebooted", ["clean_reboot"]),
    ("paused", "rebooted", ["hard_reboot"]),
    ("suspended", "rebooted", ["resume", "clean_reboot"]),
])
def test_power_steps(current, target, steps):
    assert vp.power_steps(current, target) == steps


def test_every_step_lands_where_asked():
    for current in vp.POWER_STATES:
        for target in vp.POWER_STATES:
            try:
                steps = vp.power_steps(current, target, force=True)
            except NovaopsError:
                assert (current, target) == ("halted", "suspended")
                continue
            state = current
            for step in steps:
                state = vp.STEP_RESULT[step]
            assert state == target, (current, target, steps)


def test_hard_reboot_asked():
    assert vp.power_steps("running", "rebooted", reboot="hard") == ["hard_reboot"]


def test_refused_transitions_say_why():
    with pytest.raises(NovaopsError, match="force: true"):
        vp.power_steps("suspended", "halted")
    assert vp.power_steps("suspended", "halted", force=True) == ["hard_shutdown"]
    with pytest.raises(NovaopsError, match="cannot be suspended"):
        vp.power_steps("halted", "suspended", force=True)


def test_off_steps_and_restore():
    assert vp.off_steps("running") == ["shutdown"]
    assert vp.off_steps("paused") == ["hard_shutdown"]
    assert vp.off_steps("halted") == []
    assert vp.restore_target("present", "running") == "running"
    assert vp.restore_target("present", "suspended") == "halted"
    assert vp.restore_target("rebooted", "running") == "running"
    assert vp.restore_target("halted", "running") == "halted"


def test_bootlock_refuses_only_boots():
    locked = {"start": ""}
    with pytest.raises(NovaopsError, match="bootlocked.*bootlock: false"):
        vp.check_bootlock(["start"], locked, None)
    with pytest.raises(NovaopsError):
        vp.check_bootlock(["start_paused"], locked, True)
    vp.check_bootlock(["start"], locked, False)       # the plan removes the lock first
    vp.check_bootlock(["hard_shutdown"], locked, None)
    vp.check_bootlock(["start"], {}, None)


def test_memory_limits():
    mib = 1024 * 1024
    cur = dict(static_min=512 * mib, static_max=1024 * mib, dynamic_min=1024 * mib, dynamic_max=1024 * mib)
    assert vp.memory_limits(cur, 1024) is None
    assert vp.memory_limits(cur, 2048) == (512 * mib, 2048 * mib, 2048 * mib, 2048 * mib)
    assert vp.memory_limits(cur, 256) == (256 * mib, 256 * mib, 256 * mib, 256 * mib)


@pytest.mark.parametrize("spec,size", [
    ({"size_gb": 1}, GIB), ({"size_gb": 0.5}, GIB // 2), ({"size_mb": 64}, 64 * 1024 * 1024), ({}, None),
])
def test_disk_size(spec, size):
    assert vp.disk_size(spec, 0) == size


@pytest.mark.parametrize("spec,msg", [
    ({"size_gb": -1}, "must be positive"), ({"size_mb": 0}, "must be positive"),
    ({"size_gb": 1, "size_mb": 2}, "only one"), ({"size_gb": "x"}, "not a number"),
])
def test_disk_size_refused(spec, msg):
    with pytest.raises(NovaopsError, match=msg):
        vp.disk_size(spec, 3)


def _disk(dev, size=GIB, vdi="v%s", bootable=False, mode="RW"):
    return dict(userdevice=dev, size=size, vdi_uuid=vdi % dev, bootable=bootable, mode=mode)


def test_disk_changes():
    current = [_disk("0", bootable=True), _disk("1")]
    wanted = [
        dict(userdevice="0", size=GIB, bootable=True, mode=None),               # as is
        dict(userdevice="1", size=2 * GIB, bootable=True, mode="RO"),           # grow, bootable, mode
        dict(userdevice="2", size=GIB, bootable=None, mode=None),               # new
        dict(userdevice="3", size=None, vdi_uuid="other", bootable=False, mode=None),  # attach
    ]
    ops = [(op, want["userdevice"]) for op, want, _cur in vp.disk_changes(current, wanted)]
    assert ops == [("resize", "1"), ("set_bootable", "1"), ("set_mode", "1"), ("create", "2"), ("attach", "3")]


def test_disk_changes_adopt():
    current = [dict(_disk("0"), owned=False), dict(_disk("1"), owned=True)]
    wanted = [dict(userdevice="0", vdi_uuid="v0", adopt=True),         # attached, not owned: adopt
              dict(userdevice="1", vdi_uuid="v1", adopt=True),         # already the VM's own
              dict(userdevice="2", vdi_uuid="v2", adopt=True)]         # attach (and adopt while at it)
    assert [(op, w["userdevice"]) for op, w, _c in vp.disk_changes(current, wanted)] == [("adopt", "0"), ("attach", "2")]


def test_disk_changes_clone():
    """A missing disk with clone_of is cloned (its size included); once there it is only grown, never again cloned."""
    wanted = [dict(userdevice="0", size=2 * GIB, clone_uuid="img", bootable=True, mode=None)]
    assert [op for op, _w, _c in vp.disk_changes([], wanted)] == ["clone"]
    assert vp.disk_changes([_disk("0", size=2 * GIB, bootable=True)], wanted) == []
    assert [op for op, _w, _c in vp.disk_changes([_disk("0", bootable=True)], wanted)] == ["resize"]


def test_disk_changes_no_change_within_vhd_rounding():
    current = [_disk("0", size=vp.round_vhd(1000 * 1024 * 1024 + 1))]
    assert vp.disk_changes(current, [dict(userdevice="0", size=1000 * 1024 * 1024 + 1)]) == []


@pytest.mark.parametrize("wanted,msg", [
    (dict(userdevice="0", size=GIB // 2), "never shrinks"),
    (dict(userdevice="0", vdi_uuid="someone-else"), "already holds VDI"),
    (dict(userdevice="5"), "give size_gb"),
])
def test_disk_changes_refused(wanted, msg):
    with pytest.raises(NovaopsError, match=msg):
        vp.disk_changes([_disk("0")], [wanted])


def test_vif_changes():
    current = [dict(device="0", network_uuid="n1", mac="02:00:00:00:00:01"),
               dict(device="1", network_uuid="n1", mac="02:00:00:00:00:02")]
    wanted = [dict(device="0", network_uuid="n1", mac="02:00:00:00:00:01".upper()),
              dict(device="1", network_uuid="n2", mac=None),
              dict(device="2", network_uuid="n1", mac=None)]
    assert [(op, w["device"]) for op, w, _c in vp.vif_changes(current, wanted)] == [("replace", "1"), ("create", "2")]


def test_check_mac():
    vp.check_mac("02:16:3e:00:00:01", 0)
    vp.check_mac(None, 0)
    with pytest.raises(NovaopsError, match=r"vifs\[2\]"):
        vp.check_mac("02:16:3e:00:00", 2)


def test_merged():
    assert vp.merged({"a": "1"}, {"a": "1"}) is None
    assert vp.merged({"a": "1"}, None) is None
    assert vp.merged({"a": "1"}, {"b": 2}) == {"a": "1", "b": "2"}

# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Which VDIs and VBDs a killed xen_vdi_resize left, found by their tags (XenAPI records as a fake)."""

from __future__ import annotations

from ansible_collections.novaops.compute.plugins.module_utils.xenapi import resize_leftovers as lo
from ansible_collections.novaops.compute.plugins.module_utils.xenapi.helper_vm import HELPER_TAG


class FakeXen:
    """VDI and VBD records; calls logged."""

    def __init__(self, vdis, vbds, vm_vbds):
        self.vdis, self.vbds, self.vm_vbds = vdis, vbds, vm_vbds
        self.log = []

    def call(self, method, *args):
        self.log.append((method,) + args)
        if method == "VDI.get_all_records":
            return self.vdis
        if method == "VM.get_VBDs":
            return self.vm_vbds
        if method == "VBD.get_VDI":
            return self.vbds[args[0]]["VDI"]
        if method == "VBD.get_other_config":
            return self.vbds[args[0]]["other_config"]
        if method == "VBD.get_record":
            return self.vbds[args[0]]
        return ""


def vdi(uuid, vbds=(), **other):
    return dict(uuid=uuid, name_label=uuid, VBDs=list(vbds), other_config=other)


def vbd(uuid, vdi_ref, helper=None, attached=False):
    return dict(uuid=uuid, VDI=vdi_ref, currently_attached=attached,
                other_config={HELPER_TAG: helper} if helper else {})


def test_a_killed_shrink_leaves_its_clone_new_disk_and_helper_vbds():
    vdis = {"S": vdi("s-uuid", ["vm-vbd", "h0"]),
            "C": vdi("c-uuid", ["h1"], **{lo.CLONE_TAG: "s-uuid"}),
            "N": vdi("n-uuid", ["h2"], **{lo.TAG_FROM: "s-uuid"}),
            "X": vdi("x-uuid", [], **{lo.CLONE_TAG: "other-uuid"})}
    vbds = {"vm-vbd": vbd("v0", "S"), "h0": vbd("h0u", "S", "inspect", True),
            "h1": vbd("h1u", "C", "resize-clone", True), "h2": vbd("h2u", "N", "resize-new", True)}
    xen = FakeXen(vdis, vbds, ["vm-vbd"])
    sources, work, _records = lo.leftovers(xen, "VM", "vm")
    assert sources == ["S"] and work == ["C", "N"]        # another disk's clone is not this VM's
    done = lo.clean(xen, "VM", "vm")
    assert [c for c in xen.log if c[0] in ("VBD.unplug", "VBD.destroy", "VDI.destroy")] == [
        ("VBD.unplug", "h0"), ("VBD.destroy", "h0"), ("VBD.unplug", "h1"), ("VBD.destroy", "h1"),
        ("VBD.unplug", "h2"), ("VBD.destroy", "h2"), ("VDI.destroy", "C"), ("VDI.destroy", "N")]
    assert len(done) == 5 and "resize-clone" in done[1] and "c-uuid" in done[3]


def test_a_finished_resize_keeps_its_result_and_the_original():
    # the VM runs on N now; S (the original) names N as its result; an older unfinished N2 goes
    vdis = {"S": vdi("s-uuid", [], **{lo.TAG_TO: "n-uuid"}),
            "N": vdi("n-uuid", ["vm-vbd"], **{lo.TAG_FROM: "s-uuid"}),
            "N2": vdi("n2-uuid", [], **{lo.TAG_FROM: "s-uuid"})}
    xen = FakeXen(vdis, {"vm-vbd": vbd("v0", "N")}, ["vm-vbd"])
    sources, work, _records = lo.leftovers(xen, "VM", "vm")
    assert sources == ["N", "S"] and work == ["N2"]


def test_a_new_disk_another_vm_uses_is_kept():
    vdis = {"S": vdi("s-uuid"), "N": vdi("n-uuid", ["other-vm-vbd"], **{lo.TAG_FROM: "s-uuid"})}
    xen = FakeXen(vdis, {"other-vm-vbd": vbd("o", "N")}, [])
    assert lo.leftovers(xen, "VDI", "S")[1] == []

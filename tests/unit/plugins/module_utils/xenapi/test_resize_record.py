# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What the marks of a XenAPI resize say: a resize waiting for confirm or revert (the one refusal that hard
reboot, rescue and the fleet inventory share), which VMs are the originals, the copies and the carriers, and
what a new resize, a revert and the status make of them."""

from __future__ import annotations

import pytest

from ansible_collections.novaops.compute.plugins.module_utils.xenapi import resize_record as rr
from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError
from ansible_collections.novaops.compute.plugins.module_utils.xenapi.markers import (
    RESIZE_CARRIER_OF, RESIZE_OF, RESIZE_PRIOR_STATE)


def vm(name, uuid, power="running", other=None, root=True):
    disks = [dict(userdevice="0", vdi_uuid="vdi-" + uuid, size=64 << 20)] if root else []
    return dict(name=name, uuid=uuid, power_state=power, other_config=dict(other or {}), disks=disks)


def record(named=(), renamed=(), carriers=(), on_dest=()):
    return rr.ResizeRecord("web1", "web1-orig", list(named), list(renamed), list(carriers), list(on_dest))


def test_waiting_names_the_mark_of_the_original_and_of_the_copy():
    assert rr.waiting({RESIZE_PRIOR_STATE: "running"}) == "the original, renamed; novaops_resize_prior_state=running"
    assert rr.waiting({RESIZE_OF: "u1"}) == "the resized copy; novaops_resize_of=u1"
    assert rr.waiting({RESIZE_OF: "", RESIZE_PRIOR_STATE: ""}) is None
    assert rr.waiting(None) is None


def test_refuse_during_names_the_vms_and_the_way_out_and_lets_others_through():
    rr.refuse_during([vm("web1", "u1", other={"novaops_desired_state": "running"})], "web1", "rescue")
    with pytest.raises(NovaopsError) as err:
        rr.refuse_during([vm("web1-orig", "u1", "halted", {RESIZE_PRIOR_STATE: "running"}),
                          vm("web1-orig", "u1", "halted", {RESIZE_PRIOR_STATE: "running"})], "web1", "rescue")
    assert "web1 is resized and waits for confirm or revert" in err.value.msg
    assert "web1-orig carries the marks" in err.value.msg and "web1-orig, web1-orig" not in err.value.msg
    assert "rescue would act on one copy" in err.value.msg
    assert "confirm or revert the resize first. Nothing was changed." in err.value.msg


def test_the_copy_on_the_same_pool_is_no_original():
    rec = record(named=[vm("web1", "new", other={RESIZE_OF: "old"})], renamed=[vm("web1-orig", "old", "halted")],
                 on_dest=[vm("web1", "new", other={RESIZE_OF: "old"})])
    assert [o["uuid"] for o in rec.originals] == ["old"]
    assert [r["uuid"] for r in rec.resized] == ["new"]
    assert rec.original_of(rec.resized[0])["uuid"] == "old"
    assert rec.status == "resized"


def test_a_new_resize_needs_one_original_and_no_copy_of_another():
    assert record(named=[vm("web1", "u1")]).one_original()["uuid"] == "u1"
    for rec in (record(), record(named=[vm("web1", "u1"), vm("web1", "u2")]),
                record(named=[vm("web1", "u1")], on_dest=[vm("web1", "c", other={RESIZE_OF: "someone-else"})])):
        with pytest.raises(NovaopsError) as err:
            rec.one_original()
        assert "a resize needs exactly one original (web1 or web1-orig). Nothing was changed." in err.value.msg


def test_revert_puts_back_the_renamed_and_the_named_with_their_note():
    rec = record(named=[vm("web1", "back", other={RESIZE_PRIOR_STATE: "halted"}), vm("web1", "plain")],
                 renamed=[vm("web1-orig", "renamed", "halted")])
    assert sorted(o["uuid"] for o in rec.reverting()) == ["back", "renamed"]
    assert rr.prior_state(rec.reverting()[1]) == "halted"
    assert rr.prior_state(vm("web1", "x", "halted")) == "halted"


def test_status_and_carriers_by_their_mark():
    assert record(named=[vm("web1", "u1")]).status == "none"
    assert record(renamed=[vm("web1-orig", "u1", "halted")]).status == "resizing"
    rec = record(named=[vm("web1", "u1")], carriers=[vm("web1-resize", "c1", other={RESIZE_CARRIER_OF: "u1"}),
                                                     vm("web1-resize", "c2")])
    assert [c["uuid"] for c in rec.carriers] == ["c1"] and rec.status == "resizing"
    assert rr.made_for(rec.carriers, RESIZE_CARRIER_OF, "u1") == rec.carriers
    assert rr.root_disk(vm("web1", "u1", root=False)) is None


def test_a_name_that_matches_nothing_on_either_pool():
    assert record().nothing_found
    assert not record(on_dest=[vm("web1", "confirmed")]).nothing_found      # a confirmed resize lives there
    assert not record(renamed=[vm("web1-orig", "u1", "halted")]).nothing_found

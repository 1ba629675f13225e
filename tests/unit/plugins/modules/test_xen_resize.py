# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The VM xen_resize returns as the one the instance runs as now (vm): which pool it is read on and how it is
found, by action - the choice the resize role made in Jinja before its VIFs are wired."""

from __future__ import annotations

from ansible_collections.novaops.compute.plugins.modules import xen_resize
from ansible_collections.novaops.compute.tests.unit.plugins.module_utils.xenapi.test_vm_facts import (
    OTHER_UUID, VM_UUID, FakeConn, db, vm)

ORIG_UUID = "66666666-6666-4666-8666-666666666666"


def pools():
    """A source pool with the original under its name (and a template of that name); a destination pool with
    the resized VM of the same name."""
    src = db()
    src["VM"]["OpaqueRef:orig"] = vm(ORIG_UUID, "web")
    src["VM"]["OpaqueRef:tplweb"] = vm("77777777-7777-4777-8777-777777777777", "web", is_a_template=True)
    dst = db()
    dst["VM"]["OpaqueRef:resized"] = vm(OTHER_UUID.replace("2", "8"), "web")
    return FakeConn(src), FakeConn(dst)


def facts(resized_uuid):
    return dict(name="web", status="resized", original=None, carrier=None,
                resized=dict(uuid=resized_uuid, name="web") if resized_uuid else None)


def test_after_a_resize_the_resized_vm_is_read_on_the_destination_pool_by_uuid():
    src, dst = pools()
    now = xen_resize.instance_now("resized", facts(VM_UUID), src, dst)
    assert (now["uuid"], now["name"]) == (VM_UUID, "inst")
    assert [v["mac"] for v in now["vifs"]] == ["02:00:00:00:00:01"]
    assert "_ref" not in now and "record" not in now
    assert not src.calls


def test_after_a_revert_the_original_is_read_on_the_source_pool_by_name():
    src, dst = pools()
    now = xen_resize.instance_now("reverted", facts(None), src, dst)
    assert now["uuid"] == ORIG_UUID
    assert not dst.calls


def test_a_confirm_or_no_single_vm_gives_none():
    src, dst = pools()
    assert xen_resize.instance_now("confirmed", facts(VM_UUID), src, dst) is None
    assert xen_resize.instance_now("resized", facts(None), src, dst) is None
    assert xen_resize.instance_now("resized", facts("99999999-9999-4999-8999-999999999999"), src, dst) is None
    src.db["VM"]["OpaqueRef:twin"] = vm("44444444-4444-4444-8444-444444444444", "web")
    assert xen_resize.instance_now("reverted", facts(None), src, dst) is None

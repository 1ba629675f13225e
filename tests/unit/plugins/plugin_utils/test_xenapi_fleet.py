# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import json

import pytest

from ansible_collections.novaops.compute.plugins.plugin_utils import xenapi_fleet as xf
from ansible_collections.novaops.compute.plugins.plugin_utils.fleet_inventory import SourceError


def facts(name, power="Halted", other=None):
    return dict(name=name, uuid="u-" + name, power_state=power.lower(), other_config=other or {}, vcpus=1,
                memory_mb=256, bootlocked=False, disks=[dict(userdevice="0", vdi_uuid="v1", _vdi_ref="r")],
                vifs=[dict(device="0", mac="aa", _vif_ref="r")])


def test_pool_needs_a_url_and_keeps_plain_strings():
    with pytest.raises(SourceError, match="no url"):
        xf.Pool(None)
    pool = xf.Pool("xs1.example.com", None, "pw", True, None, None)
    assert pool.url == "https://xs1.example.com" and pool.username == "root"
    assert pool.url.__class__ is str   # plain, not a tagged option string


def test_vm_instance():
    pool = xf.Pool("https://xs1", password="secret")
    inst = xf.vm_instance(pool, "pool-a", facts("web1", other={"novaops_desired_state": "running"}),
                          {"web1", "db1", "db1-rescue"})
    assert inst["power_state"] == "shutoff" and inst["desired_state"] == "running" and not inst["rescued"]
    assert inst["disks"][0]["vdi_uuid"] == "v1" and "_vdi_ref" not in inst["disks"][0]
    assert inst["extra_vars"]["xenapi_url"] == "https://xs1" and "secret" not in json.dumps(inst)
    rescued = xf.vm_instance(pool, "pool-a", facts("db1"), {"web1", "db1", "db1-rescue"})
    assert rescued["rescued"]
    busy = xf.vm_instance(pool, "pool-a", facts("web1", other={"novaops_task_state": json.dumps(
        dict(operation="resize", owner="job 7", started_at="t"))}), set())
    assert busy["task"] == dict(operation="resize", owner="job 7", started_at="t", source="other_config")


def test_the_marks_of_a_resize_waiting_for_confirm():
    pool = xf.Pool("https://xs1")
    marks = {"novaops_desired_state": "running", "novaops_resize_prior_state": "running"}
    orig = xf.vm_instance(pool, "a", facts("web1-orig", other=marks), set())
    copy = xf.vm_instance(pool, "b", facts("web1", "Running", other={"novaops_resize_of": "u-web1-orig"}), set())
    done = xf.vm_instance(pool, "b", facts("web1", "Running", other={"novaops_resize_of": ""}), set())
    assert orig["resize"] == "the original, renamed; novaops_resize_prior_state=running"
    assert copy["resize"] == "the resized copy; novaops_resize_of=u-web1-orig"
    assert done["resize"] is None

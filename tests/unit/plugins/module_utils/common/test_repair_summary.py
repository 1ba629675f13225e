# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The hard reboot's one line: what was broken, what was done."""

from __future__ import annotations

from ansible_collections.novaops.compute.plugins.module_utils.common import repair_summary as rs


def test_healthy_instance():
    found = rs.findings("running", ["destroy", "start", "wire_vifs"])
    assert rs.summary("Domain web1", found, ["destroy", "start", "wire_vifs"]) == \
        "Domain web1: nothing was broken; restarted as asked (destroy, start, wire_vifs)."


def test_what_was_missing_is_named():
    actions = ["fetch_image", "create_swap_base", "create_disk", "define", "start"]
    found = rs.findings("undefined", actions, unplugged=["02:00:00:00:00:01"])
    assert rs.summary("Domain web1", found, actions, check_mode=True) == (
        "Domain web1: found it was not defined, its image was missing from _base, its swap base was missing from "
        "_base, its disk disk was missing, VIF 02:00:00:00:00:01 had no Open vSwitch port; would do fetch_image, "
        "create_swap_base, create_disk, define, start.")


def test_xenapi_halted_vm():
    assert rs.findings("halted", ["start"]) == ["it was halted"]
    assert rs.findings("running", ["hard_reboot"]) == []

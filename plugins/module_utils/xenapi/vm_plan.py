# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The pure decisions of xen_vm: power-state paths, disk and VIF differences, memory.

Nothing here talks to XenAPI: every function takes facts (as xen_vm_facts reads them) and
the wanted settings, and returns steps or raises NovaopsError with a sentence.  The module
turns the steps into XenAPI calls; the unit tests check the decisions on plain dicts.
"""

from __future__ import annotations

from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError
from ansible_collections.novaops.compute.plugins.module_utils.common.mac_address import unicast_mac

MIB = 1024 * 1024
GIB = 1024 * MIB
VHD_BLOCK = 2 * MIB

POWER_STATES = ("running", "halted", "suspended", "paused")

# What each power step leaves the VM in.
STEP_RESULT = {
    "start": "running", "start_paused": "paused", "resume": "running", "resume_paused": "paused",
    "unpause": "running", "pause": "paused", "suspend": "suspended",
    "clean_shutdown": "halted", "hard_shutdown": "halted", "shutdown": "halted",
    "clean_reboot": "running", "hard_reboot": "running",
}
# Steps that boot the VM (refused by a bootlock: blocked_operations 'start').
BOOT_STEPS = ("start", "start_paused")

_PATHS = {
    ("halted", "running"): ["start"],
    ("suspended", "running"): ["resume"],
    ("paused", "running"): ["unpause"],
    ("running", "halted"): ["clean_shutdown"],
    ("paused", "halted"): ["hard_shutdown"],
    ("running", "suspended"): ["suspend"],
    ("paused", "suspended"): ["unpause", "suspend"],
    ("running", "paused"): ["pause"],
    ("halted", "paused"): ["start_paused"],
    ("suspended", "paused"): ["resume_paused"],
}


def power_steps(current, target, force=False, reboot="clean"):
    """Steps from power state current to target (a module state); [] when nothing to do."""
    current = current.lower()
    if target in ("present", "absent"):
        return []
    if target == "rebooted":
        if current == "halted":
            return ["start"]
        if current == "suspended":
            return ["resume", "%s_reboot" % reboot]
        if current == "paused":
            return ["hard_reboot"]
        return ["%s_reboot" % reboot]
    if current == target:
        return []
    if (current, target) == ("suspended", "halted"):
        if not force:
            raise NovaopsError("The VM is suspended; halting it discards its saved memory image. "
                               "Set force: true to halt it anyway, or state: running to resume it.")
        return ["hard_shutdown"]
    if (current, target) == ("halted", "suspended"):
        raise NovaopsError("A halted VM cannot be suspended (there is no running guest to save); "
                           "bring it to state: running first.")
    try:
        return list(_PATHS[(current, target)])
    except KeyError:
        raise NovaopsError("No way from power state %s to %s." % (current, target))


def off_steps(current):
    """Steps that power a VM off for a change that needs it halted (force: true)."""
    current = current.lower()
    if current == "running":
        return ["shutdown"]            # clean, then hard after the timeout
    if current in ("paused", "suspended"):
        return ["hard_shutdown"]
    return []


def restore_target(state, before_power):
    """The power state to come back to after a forced power-off: the state asked, or (present) the old one."""
    if state == "present":
        return {"running": "running", "paused": "paused"}.get(before_power, "halted")
    if state == "rebooted":
        return "running"
    return state


def check_bootlock(steps, blocked_operations, bootlock):
    """Refuse, before any change, a plan that would boot a bootlocked VM."""
    if bootlock is False or "start" not in (blocked_operations or {}):
        return
    if any(step in BOOT_STEPS for step in steps):
        raise NovaopsError("The VM is bootlocked (blocked_operations start=%r, as rescue leaves it); "
                           "it cannot be started. Set bootlock: false to remove the lock and start it."
                           % blocked_operations["start"])


def memory_limits(current, memory_mb):
    """(static_min, static_max, dynamic_min, dynamic_max) for memory_mb, or None if already so."""
    want = int(memory_mb) * MIB
    if current["static_max"] == want and current["dynamic_min"] == want and current["dynamic_max"] == want \
            and current["static_min"] <= want:
        return None
    return (min(current["static_min"], want), want, want, want)


def round_vhd(size):
    return (int(size) + VHD_BLOCK - 1) // VHD_BLOCK * VHD_BLOCK


def disk_size(spec, where):
    """Bytes asked by a disk spec (size_gb / size_mb / size), or None; refuses sizes <= 0.
    ``where`` names the spec in messages: its place in disks, or the option it came from."""
    where = "disks[%d]" % where if isinstance(where, int) else where
    given = [(key, spec.get(key)) for key in ("size_gb", "size_mb", "size") if spec.get(key) is not None]
    if len(given) > 1:
        raise NovaopsError("%s: give only one of size_gb, size_mb, size." % where)
    if not given:
        return None
    key, value = given[0]
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise NovaopsError("%s: %s=%r is not a number." % (where, key, given[0][1]))
    if value <= 0:
        raise NovaopsError("%s: %s must be positive, not %s." % (where, key, given[0][1]))
    return int(value * {"size_gb": GIB, "size_mb": MIB, "size": 1}[key])


def disk_changes(current_disks, wanted_disks):
    """Compare wanted disks (normalised: userdevice, size, vdi_uuid, bootable, mode) with the VM's.

    Returns [(op, wanted, current)] with op in create, clone, attach, adopt, resize, set_bootable, set_mode.
    Disks the VM has but the list does not name are left alone.  An attached disk wanted with
    adopt=True that the VM does not own yet is adopted (marked as the VM's own).
    """
    by_device = dict((d["userdevice"], d) for d in current_disks)
    changes = []
    for want in wanted_disks:
        cur = by_device.get(want["userdevice"])
        if cur is None:
            if want.get("clone_uuid"):
                changes.append(("clone", want, None))
            elif want.get("vdi_uuid"):
                changes.append(("attach", want, None))
            elif want.get("size"):
                changes.append(("create", want, None))
            else:
                raise NovaopsError("disks: userdevice %s does not exist yet; give size_gb (a new disk) or vdi "
                                   "(an existing one) for it." % want["userdevice"])
            continue
        if want.get("vdi_uuid") and cur.get("vdi_uuid") != want["vdi_uuid"]:
            raise NovaopsError("disks: userdevice %s already holds VDI %s, not %s; detach it first or use "
                               "another userdevice." % (want["userdevice"], cur.get("vdi_uuid"), want["vdi_uuid"]))
        if want.get("adopt") and not cur.get("owned"):
            changes.append(("adopt", want, cur))
        if want.get("size") and cur.get("size") is not None:
            if round_vhd(want["size"]) > cur["size"]:
                changes.append(("resize", want, cur))
            elif round_vhd(want["size"]) < cur["size"]:
                raise NovaopsError("disks: userdevice %s is %d bytes; shrinking it to %d bytes is not supported "
                                   "(a disk never shrinks)." % (want["userdevice"], cur["size"], want["size"]))
        if want.get("bootable") is not None and bool(want["bootable"]) != cur["bootable"]:
            changes.append(("set_bootable", want, cur))
        if want.get("mode") and want["mode"] != cur["mode"]:
            changes.append(("set_mode", want, cur))
    return changes


def vif_changes(current_vifs, wanted_vifs):
    """[(op, wanted, current)] with op create or replace (network or MAC differ)."""
    by_device = dict((v["device"], v) for v in current_vifs)
    changes = []
    for want in wanted_vifs:
        cur = by_device.get(want["device"])
        if cur is None:
            changes.append(("create", want, None))
        elif cur["network_uuid"] != want["network_uuid"] or \
                (want.get("mac") and cur["mac"].lower() != want["mac"].lower()):
            changes.append(("replace", want, cur))
    return changes


def check_mac(mac, index):
    if mac:
        unicast_mac(mac, "vifs[%d]:" % index)


def merged(current, wanted):
    """current map updated by wanted (keys set, none removed); None when nothing would change."""
    if not wanted:
        return None
    result = dict(current or {})
    result.update(dict((k, str(v)) for k, v in wanted.items()))
    return None if result == (current or {}) else result

# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Is an instance in the state it should be in?  The judgement fleet repair acts on.

Both drivers are first reduced to one vocabulary (power states running, shutoff, paused,
suspended, crashed; desired states the same), then classify() compares actual with desired
and names every difference.  Pure logic, no I/O: the inventory plugins gather the facts
(domain state and reason, recorded desired state, base files, OVS ports, the operation lock)
and the verdict is the same whoever asks.

Rules (after what a Nova operator checks before ``reset-state --active`` and a hard reboot):
- an instance with no recorded desired state was not made by this collection: no verdict;
- an operation in progress (the lock) makes it busy: never repaired, its findings kept;
- a power state other than the desired one needs repair (a killed QEMU shows as shut off
  with reason crashed, a halted XenServer VM as shutoff);
- a desired-running instance whose base file is gone or whose OVS port is missing needs
  repair even while it runs: its next start would fail, or it is cut off the network;
- a rescued instance is an operator's work in progress (the XenServer original waits halted
  and bootlocked, a libvirt domain boots its rescue disk): like a busy one, never repaired;
- so is an instance whose resize is not over (Nova's RESIZED, awaiting confirm or revert, or a
  resize half done): the original waits shut off at the source while the copy runs at the
  destination, and a hard reboot of the original would start it beside the copy.  It is busy,
  with the resize as a reason, whatever else is found.
"""

from __future__ import annotations

RUNNING = "running"
SHUTOFF = "shutoff"
PAUSED = "paused"
SUSPENDED = "suspended"
CRASHED = "crashed"
POWER_STATES = (RUNNING, SHUTOFF, PAUSED, SUSPENDED, CRASHED)

NEEDS_REPAIR = "needs_repair"
RESCUED = "rescued"
BUSY = "busy"
# Every group the plugins create, even when empty, so that the group list is stable.
GROUPS = (NEEDS_REPAIR, RUNNING, SHUTOFF, PAUSED, SUSPENDED, CRASHED, RESCUED, BUSY)

HARD_REBOOT = "hard_reboot"     # the repair path: leaves the instance running
CONVERGE = "converge"           # bring it to its (not running) desired power state

# virDomainShutoffReason / virDomainCrashedReason, by number
LIBVIRT_SHUTOFF_REASONS = {0: "unknown", 1: "shutdown", 2: "destroyed", 3: "crashed", 4: "migrated",
                           5: "saved", 6: "failed", 7: "from_snapshot", 8: "daemon"}
LIBVIRT_CRASHED_REASONS = {0: "unknown", 1: "panicked"}

_LIBVIRT_POWER = {"running": RUNNING, "blocked": RUNNING, "shutdown": RUNNING, "paused": PAUSED,
                  "pmsuspended": PAUSED, "shutoff": SHUTOFF, "saved": SUSPENDED, "crashed": CRASHED,
                  "nostate": None}
_LIBVIRT_DESIRED = {"running": RUNNING, "shutdown": SHUTOFF, "paused": PAUSED, "saved": SUSPENDED}
_XEN_POWER = {"running": RUNNING, "halted": SHUTOFF, "paused": PAUSED, "suspended": SUSPENDED}
_XEN_DESIRED = {"running": RUNNING, "rebooted": RUNNING, "halted": SHUTOFF, "paused": PAUSED,
                "suspended": SUSPENDED}


def libvirt_power_state(state_name, reason_code=None):
    """(power state, reason) of a libvirt domain from libvirt.py's state name and the reason number.

    A QEMU that died (killed, OOM) leaves the domain shut off with reason 'crashed': it is
    counted as crashed, like a guest panic.
    """
    power = _LIBVIRT_POWER.get(state_name)
    reason = None
    if state_name == "shutoff":
        reason = LIBVIRT_SHUTOFF_REASONS.get(reason_code)
        if reason == "crashed":
            power = CRASHED
    elif state_name == "crashed":
        reason = LIBVIRT_CRASHED_REASONS.get(reason_code)
    return power, reason


def libvirt_desired_state(recorded):
    """The desired power state recorded by libvirt_domain (its ``state`` option), or None."""
    return _LIBVIRT_DESIRED.get(recorded)


def xen_power_state(power_state):
    return _XEN_POWER.get(str(power_state or "").lower())


def xen_desired_state(recorded):
    """The desired power state recorded by xen_vm in other_config, or None (present, unset)."""
    return _XEN_DESIRED.get(str(recorded or "").lower())


def classify(instance):
    """The verdict on one instance.

    ``instance``: driver ('libvirt'|'xenapi'), power_state (one of POWER_STATES or None),
    state_reason, desired_state (one of POWER_STATES or None), rescued, task (the operation
    lock or None), resize (what shows a resize is not over, or None), missing_base (paths),
    missing_ports (VIF ids).

    Returns ``{state, groups, needs_repair, busy, reasons, repair}``: ``reasons`` lists every
    difference found (also for a busy or rescued instance, which is not repaired), ``repair`` is
    HARD_REBOOT or CONVERGE when it needs repair, else None.
    """
    power = instance.get("power_state")
    desired = instance.get("desired_state")
    resize = instance.get("resize")
    busy = bool(instance.get("task")) or bool(resize)
    rescued = bool(instance.get("rescued"))
    reasons = []
    if desired is not None:
        if power != desired:
            shown = power or "unknown"
            if instance.get("state_reason") not in (None, "unknown", power):
                shown = "%s (%s)" % (shown, instance["state_reason"])
            reasons.append("%s, desired %s" % (shown, desired))
        if desired == RUNNING:
            reasons.extend("base file %s is missing" % path for path in instance.get("missing_base") or [])
            if power == RUNNING:
                reasons.extend("OVS port of VIF %s is missing" % vif for vif in instance.get("missing_ports") or [])
    if resize:
        reasons.append("a resize is not over (%s): confirm or revert it first" % resize)
    needs_repair = bool(reasons) and not busy and not rescued
    groups = [power] if power in POWER_STATES else []
    if needs_repair:
        groups.append(NEEDS_REPAIR)
    if rescued:
        groups.append(RESCUED)
    if busy:
        groups.append(BUSY)
    repair = None
    if needs_repair:
        repair = HARD_REBOOT if desired == RUNNING else CONVERGE
    return dict(state=power, groups=groups, needs_repair=needs_repair, busy=busy, reasons=reasons, repair=repair)

# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The one line a hard reboot prints: what it found broken and what it did.

A hard reboot always reports a change, so ``changed=1`` says nothing; the operator wants to
know whether something was repaired. Both drivers describe what they found before the
restart (``found``) and hand over their plan's action names; the sentence is made here.
Pure logic, no I/O.
"""

from __future__ import annotations

# plan actions that exist only because something was missing, and what that something was
MISSING = (
    ("fetch_image", "its image was missing from _base"),
    ("create_ephemeral_base", "its ephemeral base was missing from _base"),
    ("create_swap_base", "its swap base was missing from _base"),
    ("create_instance_dir", "its instance directory was missing"),
)

# power states a restart-as-asked does not start from
STATE_FOUND = {
    "undefined": "it was not defined",
    "shutoff": "it was shut off",
    "halted": "it was halted",
    "crashed": "it had crashed",
    "paused": "it was paused",
    "suspended": "it was suspended",
    "saved": "it was saved to disk",
    "pmsuspended": "its guest had suspended itself",
}


def findings(state, actions, unplugged=(), definition_differed=False):
    """What was broken before a hard reboot, as sentences.

    ``state`` is the power state found, ``actions`` the plan's action names (a ``create_<disk>``
    that is no base means that disk was missing), ``unplugged`` the VIFs (MAC or device) that had
    no Open vSwitch port, ``definition_differed`` whether the stored definition was not the
    instance's."""
    found = []
    if state in STATE_FOUND:
        found.append(STATE_FOUND[state])
    if definition_differed:
        found.append("its definition differed from the instance's")
    known = dict(MISSING)
    for name in actions:
        if name in known:
            found.append(known[name])
        elif name.startswith("create_") and not name.endswith("_base") and name != "create":
            found.append("its disk %s was missing" % name[len("create_"):])
    found.extend("VIF %s had no Open vSwitch port" % vif for vif in unplugged)
    return found


def summary(subject, found, actions, check_mode=False):
    """``<subject>: nothing was broken; restarted as asked (<actions>).`` or
    ``<subject>: found <what>; did <actions>.`` (``would do`` in check mode)."""
    did = ", ".join(actions) or "nothing"
    if not found:
        if check_mode:
            return "%s: nothing was broken; would restart as asked (%s)." % (subject, did)
        return "%s: nothing was broken; restarted as asked (%s)." % (subject, did)
    return "%s: found %s; %s %s." % (subject, ", ".join(found), "would do" if check_mode else "did", did)

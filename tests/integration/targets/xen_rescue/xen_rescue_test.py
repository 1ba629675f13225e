# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""xen_rescue (run by runme.sh) on pool a: an instance with files on its root disk, their sum checked after
every step.

Bad input refused before anything changes (no rescue template, a name no VM has, an unrescue of an instance
not in rescue, a rescue while a resize waits for confirm), rescue in check mode (nothing made), rescue with a
diff and again (no change), unrescue in check mode, unrescue and the refusal of a second one, and the two
resumptions: an unrescue that stopped after the rescue VM went (the instance's mark), a rescue that stopped
before it attached the root disk (a marked rescue VM holding nothing).
"""

from __future__ import annotations

import os
import random
import string

from module_runs import clean_failure, module_run
from roles_lib import Checks, disk
from xen_vms import boot_filled

E = os.environ
TAG = "xq-" + "".join(random.choice(string.ascii_lowercase) for _letter in range(5))
NAME = TAG + "-1"
RESCUE = NAME + "-rescue"
TEMPLATE = "xq-tmpl-64"
RESCUE_TEMPLATE = "Debian Bookworm 12"
NET = "Pool-wide network associated with eth0"
POOL_A = dict(url=E["XENAPI_POOL_A_URL"], password=E["XENAPI_POOL_A_PASSWORD"])
check = Checks()


def rescue(check_mode=False, diff=False, **args):
    return module_run("xen_rescue", dict(POOL_A, name=NAME, **args), check_mode=check_mode,
                      env=dict(ANSIBLE_DIFF_ALWAYS="1") if diff else None)


def xen_vm(**args):
    return module_run("xen_vm", dict(POOL_A, **args))


def vm(name):
    """The VM as xen_vm_info shows it, or {} when there is none."""
    return module_run("xen_vm_info", dict(POOL_A, name=name, record=False, chains=False)).get("vm") or {}


def root(facts, userdevice="0"):
    return next((d["vdi_uuid"] for d in facts.get("disks", []) if d["userdevice"] == userdevice), None)


def ok(result, what, changed):
    good = not result.get("failed") and bool(result.get("changed")) == changed
    return check(good, "%s (changed=%s, actions %s)" % (what, result.get("changed"), result.get("actions")),
                 None if good else result.get("msg"))


def refused(result, what, words):
    good = clean_failure(result) and not result.get("changed") and words in result.get("msg", "")
    return check(good, "%s is refused: %r" % (what, words), None if good else result)


def same_bytes(where, ref):
    got = disk("xen-sum", "A", NAME)
    check(got["sum"] == ref and got["fsck_rc"] == 0, "%s: the instance's files are intact" % where, got)


def main():
    disk("xen-template", "A", TEMPLATE, 64)
    try:
        ref = boot_filled(xen_vm, check, NAME, TEMPLATE, NET, "02:00:00:00:7e:51")
        scenario(ref)
    finally:
        for name in (RESCUE, NAME, NAME + "-orig"):
            xen_vm(name=name, state="absent")
    check.exit()


def scenario(ref):
    before = vm(NAME)
    bad_input(before)
    planned = rescue(check_mode=True, template=RESCUE_TEMPLATE)
    ok(planned, "rescue, check mode, predicts the change", True)
    check(planned.get("actions") == ["shut_down_and_bootlock", "boot_rescue_vm"], "it names its steps", planned)
    check(vm(NAME).get("power_state") == "running" and not vm(RESCUE), "check mode left the instance running, no rescue VM")

    done = rescue(diff=True, template=RESCUE_TEMPLATE)
    ok(done, "rescue", True)
    diff = done.get("diff") or {}
    check((diff.get("before") or {}).get("rescued") is False and (diff.get("after") or {}).get("rescued") is True,
          "its diff shows the rescue VM coming", diff)
    ok(rescue(template=RESCUE_TEMPLATE), "rescue again", False)
    inst, rvm = vm(NAME), vm(RESCUE)
    check(inst.get("power_state") == "halted" and inst.get("bootlocked"), "the instance is halted and bootlocked", inst)
    check(rvm.get("power_state") == "running" and root(rvm, "1") == root(before),
          "the rescue VM runs with the instance's root disk at userdevice 1", rvm)
    same_bytes("in rescue", ref)

    planned = rescue(check_mode=True, state="unrescued")
    ok(planned, "unrescue, check mode, predicts the change", True)
    check(vm(RESCUE).get("power_state") == "running", "check mode left the rescue VM")
    ok(rescue(state="unrescued"), "unrescue", True)
    refused(rescue(state="unrescued"), "a second unrescue", "is not in rescue")
    back = vm(NAME)
    check(back.get("power_state") == "running" and not back.get("bootlocked") and root(back) == root(before)
          and not vm(RESCUE), "the instance runs again from its own root disk, unlocked; no rescue VM", back)
    same_bytes("after the unrescue", ref)
    resumed(ref, before)


def bad_input(before):
    refused(rescue(), "a rescue without a rescue template", "give template")
    refused(module_run("xen_rescue", dict(POOL_A, name=NAME + "-nosuch", template=RESCUE_TEMPLATE)),
            "a rescue of a name no VM has", "0 VMs named %s-nosuch" % NAME)
    refused(rescue(state="unrescued"), "an unrescue of an instance not in rescue", "is not in rescue")
    refused(rescue(template=RESCUE_TEMPLATE, timeout=0), "a timeout of 0", "timeout")
    xen_vm(uuid=before["uuid"], other_config=dict(novaops_resize_of="some-original"))
    refused(rescue(template=RESCUE_TEMPLATE), "a rescue while a resize waits for confirm",
            "confirm or revert the resize first")
    xen_vm(uuid=before["uuid"], other_config=dict(novaops_resize_of=""))
    now = vm(NAME)
    check(now.get("power_state") == "running" and not now.get("bootlocked") and not vm(RESCUE),
          "after the refusals the instance runs, unlocked, and there is no rescue VM", now)


def resumed(ref, before):
    # an unrescue that stopped after it destroyed the rescue VM: the instance halted, bootlocked and marked
    ok(rescue(template=RESCUE_TEMPLATE), "rescue (for the resumptions)", True)
    xen_vm(uuid=before["uuid"], other_config=dict(novaops_unrescue_pending=vm(RESCUE).get("uuid", "x")))
    xen_vm(name=RESCUE, state="absent")
    again = rescue(state="unrescued")
    ok(again, "an unrescue that stopped after the rescue VM went is finished", True)
    back = vm(NAME)
    check(back.get("power_state") == "running" and not back.get("bootlocked") and
          not back.get("other_config", {}).get("novaops_unrescue_pending"), "the instance runs, unlocked, unmarked", back)
    # a rescue that stopped before it attached the root: a rescue VM marked for the instance, holding nothing
    xen_vm(name=RESCUE, template=RESCUE_TEMPLATE, other_config=dict(novaops_rescue_of=before["uuid"]), state="halted")
    ok(rescue(template=RESCUE_TEMPLATE), "a rescue that stopped before it attached the root is finished", True)
    check(root(vm(RESCUE), "1") == root(before) and vm(RESCUE).get("power_state") == "running",
          "its rescue VM holds the root disk and runs")
    ok(rescue(state="unrescued"), "and unrescued", True)
    same_bytes("after the resumptions", ref)


if __name__ == "__main__":
    main()

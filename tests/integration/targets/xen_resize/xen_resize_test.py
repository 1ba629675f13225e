# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""xen_resize (run by runme.sh) on the two simulator pools and the sshd bed: an instance with files on its root
disk, their sum checked after every step.

Bad input refused before anything changes; resize up to pool b in check mode (nothing changes), with a diff,
again (no change), to another flavor while it waits (refused), confirm and revert in check mode, revert and
again; a resize down whose filesystem does not fit, refused before anything changes while the instance runs
(its whole record and its disk's bytes compared); resize down within pool a and again, confirm and again; a
resize that stopped after the rename is finished; confirm and revert of a name no VM has (an error naming the
option name, and where name_from says it came from) and with nothing pending (no change, a message that says so).
"""

from __future__ import annotations

import os
import random
import string

from module_runs import clean_failure, module_run
from roles_lib import Checks, disk
from xen_vms import boot_filled

E = os.environ
TAG = "xr-" + "".join(random.choice(string.ascii_lowercase) for _letter in range(5))
NAME = TAG + "-1"
TEMPLATE = "xr-tmpl-64"
NET = "Pool-wide network associated with eth0"
MIB = 1024 * 1024
POOL = dict((letter, dict(url=E["XENAPI_POOL_%s_URL" % letter], password=E["XENAPI_POOL_%s_PASSWORD" % letter]))
            for letter in "AB")
SSH = dict(ssh_host=E["NOVAOPS_SSH_HOST"], ssh_port=int(E["NOVAOPS_SSH_PORT"]), ssh_user=E["NOVAOPS_SSH_USER"],
           ssh_private_key_file=E["NOVAOPS_SSH_KEY"], ssh_known_hosts_file=E["NOVAOPS_SSH_KNOWN_HOSTS"])
TO_B = dict(SSH, dest_url=POOL["B"]["url"], dest_password=POOL["B"]["password"],
            dest_sr_uuid=E["XENAPI_POOL_B_SR_UUID"])
UP = dict(vcpus=2, memory_mb=512, root_mb=96)
check = Checks()


def resize(check_mode=False, diff=False, **args):
    args = dict(dict(POOL["A"], name=NAME, template=TEMPLATE, shutdown_timeout=5, timeout=120), **args)
    return module_run("xen_resize", args, check_mode=check_mode, env=dict(ANSIBLE_DIFF_ALWAYS="1") if diff else None)


def xen_vm(pool="A", **args):
    return module_run("xen_vm", dict(POOL[pool], **args))


def vm(pool, name, whole=False):
    """The VM as xen_vm_info shows it (whole: its XenAPI record and disk chains too), or {} when there is none."""
    return module_run("xen_vm_info", dict(POOL[pool], name=name, record=whole, chains=whole)).get("vm") or {}


def ok(result, what, changed, actions=None):
    good = not result.get("failed") and bool(result.get("changed")) == changed and \
        (actions is None or result.get("actions") == actions)
    return check(good, "%s (changed=%s, actions %s)" % (what, result.get("changed"), result.get("actions")),
                 None if good else result.get("msg") or result)


def refused(result, what, words):
    good = clean_failure(result) and not result.get("changed") and words in result.get("msg", "")
    return check(good, "%s is refused: %r" % (what, words), None if good else result)


def same_bytes(where, ref, pool="A", name=NAME, size=None):
    got = disk("xen-sum", pool, name)
    check(got["sum"] == ref and got["fsck_rc"] == 0 and (size is None or got["size"] == size),
          "%s: the instance's files are intact on pool %s (%s)%s"
          % (where, pool, name, "" if size is None else ", %d MiB" % (size // MIB)), got)


def main():
    disk("xen-template", "A", TEMPLATE, 64)
    disk("xen-template", "B", TEMPLATE, 64)
    try:
        ref = boot_filled(xen_vm, check, NAME, TEMPLATE, NET, "02:00:00:00:7e:61")
        bad_input()
        up_and_revert(ref)
        refused_shrink(ref)
        down_and_confirm(ref)
        resumed(ref)
        nothing_to_do()
    finally:
        for pool in "AB":
            for name in (NAME, NAME + "-orig", NAME + "-resize"):
                xen_vm(pool, name=name, state="absent")
    check.exit()


def untouched(what, pools=("A", "B")):
    """The instance as it was before a refused or predicted resize: running, named so, unmarked; none on b."""
    now = vm("A", NAME)
    check(now.get("power_state") == "running" and now.get("vcpus") == 1 and
          not now.get("other_config", {}).get("novaops_resize_prior_state") and not vm("A", NAME + "-orig") and
          ("B" not in pools or not vm("B", NAME)), "%s: the instance runs as before, nothing made" % what, now)


def bad_input():
    refused(resize(flavor=dict(vcpus="many"), **TO_B), "a flavor of 'many' VCPUs", "vcpus")
    refused(resize(template=None, flavor=UP, **TO_B), "a resize without a template", "template")
    refused(resize(template=TAG + "-no-such-template", flavor=UP, **TO_B), "a template no pool has",
            "No template has the UUID or name")
    refused(resize(flavor=UP, **{**TO_B, "dest_sr_uuid": "not-a-uuid"}), "a destination SR that is not a UUID",
            "not a UUID")
    refused(resize(flavor=UP, **{**TO_B, "ssh_private_key_file": "/nonexistent/key"}), "an ssh key file that is not there",
            "Cannot read the ssh private key")
    refused(resize(flavor=UP, orig_suffix="", **TO_B), "an empty orig_suffix", "orig_suffix must not be empty")
    refused(module_run("xen_resize", dict(POOL["A"], name=NAME + "-nosuch", template=TEMPLATE, flavor=UP, **TO_B)),
            "a resize of a name no VM has", "Found no VM for %s-nosuch" % NAME)
    untouched("after the refusals")


def up_and_revert(ref):
    planned = resize(check_mode=True, flavor=UP, **TO_B)
    ok(planned, "resize up to pool b, check mode, predicts the change", True,
       ["rename_original", "send_disks", "make_resized", "grow_root", "start_resized"])
    untouched("after check mode")
    done = resize(diff=True, flavor=UP, **TO_B)
    ok(done, "resize up to pool b", True,
       ["rename_original", "send_disks", "make_resized", "grow_root", "start_resized"])
    diff = done.get("diff") or {}
    check((diff.get("before") or {}).get("status") == "none" and (diff.get("after") or {}).get("status") == "resized",
          "its diff shows the resize", diff)
    check(done.get("bytes_transferred", 0) > 0, "it reports the bytes it sent", done.get("bytes_transferred"))
    again = resize(flavor=UP, **TO_B)
    ok(again, "resize up again", False, [])
    refused(resize(flavor=dict(UP, vcpus=4), **TO_B), "another resize while one waits for confirm",
            "confirm or revert that resize before another")
    new, orig = vm("B", NAME), vm("A", NAME + "-orig")
    check(new.get("power_state") == "running" and new.get("vcpus") == 2 and new.get("memory_mb") == 512,
          "the resized instance runs on pool b with 2 VCPUs and 512 MiB", new)
    check(orig.get("power_state") == "halted" and orig["other_config"].get("novaops_resize_prior_state") == "running",
          "the original waits halted as -orig, its power state noted", orig)
    same_bytes("on pool b, grown", ref, "B", size=96 * MIB)
    for run, what in ((done, "the resize"), (again, "the resize run again")):
        now = run.get("vm") or {}
        check(now.get("uuid") == new.get("uuid") and now.get("power_state") == "running" and
              [v.get("port") for v in now.get("vifs", [])] == [v.get("port") for v in new.get("vifs", [])],
              "%s returns the resized VM as it runs on pool b (vm)" % what, now)
    check(planned.get("vm") is None, "check mode returns no vm", planned.get("vm"))
    ok(resize(check_mode=True, state="confirmed", **TO_B), "confirm, check mode", True,
       ["destroy_original", "clear_resize_mark"])
    ok(resize(check_mode=True, state="reverted", **TO_B), "revert, check mode", True,
       ["destroy_resized", "restore_original"])
    check(vm("A", NAME + "-orig").get("uuid") == orig.get("uuid") and vm("B", NAME).get("uuid") == new.get("uuid"),
          "check mode changed neither")
    reverted = resize(state="reverted", **TO_B)
    ok(reverted, "revert", True, ["destroy_resized", "restore_original"])
    ok(resize(state="reverted", **TO_B), "revert again", False, [])
    check((reverted.get("vm") or {}).get("uuid") == orig.get("uuid") and reverted["vm"].get("name") == NAME,
          "the revert returns the original, under its name on pool a (vm)", reverted.get("vm"))
    untouched("after the revert")
    same_bytes("after the revert", ref)


def refused_shrink(ref):
    """A shrink whose filesystem does not fit is refused before anything changes, on a running VM: its minimum is
    read from a snapshot of the root disk. The VM's whole record (name, power state, other_config, consoles,
    VBDs, ...) and the bytes of its files are what they were."""
    before = vm("A", NAME, whole=True)
    got = resize(flavor=dict(vcpus=1, memory_mb=256, root_mb=4), **SSH)
    refused(got, "a resize down to 4 MiB, which the filesystem does not fit", "The filesystem does not fit")
    check("Nothing was changed" in got.get("msg", ""), "the refusal says that nothing was changed", got.get("msg"))
    after = vm("A", NAME, whole=True)
    for disk_facts in before.get("disks", []) + after.get("disks", []):
        disk_facts.pop("chain", None)       # the snapshot's base copy may wait for the GC to coalesce it
        disk_facts.pop("vhd_parent", None)
    check(after == before and after.get("power_state") == "running",
          "the VM's whole record is what it was, and it runs (console %s)" % (after.get("consoles") or {}).get("rfb"),
          [key for key in sorted(set(before) | set(after)) if before.get(key) != after.get(key)])
    check(not vm("A", NAME + "-orig") and not vm("A", NAME + "-resize"), "no -orig, no carrier")
    same_bytes("after the refused shrink", ref, size=64 * MIB)
    planned = resize(check_mode=True, flavor=dict(vcpus=1, memory_mb=256, root_mb=4), **SSH)
    refused(planned, "the same in check mode", "The filesystem does not fit")


def nothing_to_do():
    # the message names the module's option; a caller (a role) says where the name came from
    for state, source, said in (("confirmed", {}, "Check the option name. Nothing"),
                                ("reverted", dict(name_from="the test's words"), "Check the option name (the test's words).")):
        typo = module_run("xen_resize", dict(POOL["A"], name=NAME + "-typo", state=state, **TO_B, **source))
        refused(typo, "%s of a name no VM has" % state[:-2], said)
        idle = resize(state=state, **TO_B)
        ok(idle, "%s with nothing pending" % state[:-2], False, [])
        check("nothing to %s" % state[:-2] in idle.get("msg", ""), "its message says nothing was pending",
              idle.get("msg"))


def down_and_confirm(ref):
    down = dict(vcpus=1, memory_mb=256, root_mb=48)
    steps = ["rename_original", "shut_down_original", "shrink_root", "make_carrier", "send_disks", "make_resized",
             "start_resized", "drop_carrier"]
    ok(resize(flavor=down, **SSH), "resize down within pool a", True, steps)
    ok(resize(flavor=down, **SSH), "resize down again", False, [])
    same_bytes("shrunk", ref, size=48 * MIB)
    same_bytes("the original, untouched", ref, name=NAME + "-orig", size=64 * MIB)
    check(not vm("A", NAME + "-resize"), "no carrier is left")
    confirmed = resize(state="confirmed", **SSH)
    ok(confirmed, "confirm", True, ["destroy_original", "clear_resize_mark"])
    check("vm" in confirmed and confirmed["vm"] is None, "a confirm returns no vm (it starts nothing)")
    ok(resize(state="confirmed", **SSH), "confirm again", False, [])
    now = vm("A", NAME)
    check(not vm("A", NAME + "-orig") and now.get("power_state") == "running" and
          not now.get("other_config", {}).get("novaops_resize_of"), "the original is gone; the instance runs unmarked", now)


def resumed(ref):
    # a resize that stopped after the rename: the original renamed, its power state noted, nothing else
    before = vm("A", NAME)
    xen_vm(uuid=before["uuid"], name=NAME + "-orig", other_config=dict(novaops_resize_prior_state="running"))
    ok(resize(flavor=UP, **TO_B), "a resize that stopped after the rename is finished", True)
    same_bytes("resumed, on pool b", ref, "B", size=96 * MIB)
    ok(resize(state="reverted", **TO_B), "and reverted", True)
    check(vm("A", NAME).get("power_state") == "running" and not vm("B", NAME), "the instance runs on pool a only")


if __name__ == "__main__":
    main()

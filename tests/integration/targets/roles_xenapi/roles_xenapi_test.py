# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The playbooks on XenAPI (run by runme.sh): one instance on pool a, its files' sum checked after every step.

boot (check mode, twice), snapshot into Glance (twice; the image's files), rescue and unrescue
(twice each; unrescue of an instance not in rescue fails), hard reboot of a running and of a
halted VM, a resize whose copy fails (the original runs again, nothing left on pool b), resize
up to pool b (twice), hard reboot and rescue refused while it waits for confirm, and revert (twice), a resize down
that the filesystem does not fit (refused, the VM's whole record and bytes as they were), resize down to pool b and
confirm (twice), confirm and revert of a misspelled name (an error naming instance_name) and with nothing pending (a
message, no change), the dom0 plugins installed (twice), bad input (its messages as shown at the default verbosity,
naming the inventory variables), the hard reboots' summary lines as shown at the default verbosity; and the round
trip: two NEW instances booted from the snapshot image (cached in the SR once, each root a clone) hold the same files.
"""

from __future__ import annotations

import json
import os
import random
import string
import urllib.request
from subprocess import run

from roles_lib import Checks, Playbooks, disk, write_inventory

E = os.environ
TAG = "nt-ro-x" + "".join(random.choice(string.ascii_lowercase) for _letter in range(4))
NAME = TAG + "-1"
NAME2, NAME3 = TAG + "-2", TAG + "-3"      # booted from NAME's snapshot
TEMPLATE = "nt-ro-tmpl-64"
BRIDGE, VIF_PORT, UPLINK = "brx" + TAG[-4:], "vx" + TAG[-4:], "ux" + TAG[-4:]   # dom0's OVS, standing in
IP, QUEUE = "10.78.0.5", 13948
check = Checks()


def sim(pool, name, *args):
    url = E["XENAPI_HTTP_URL" if pool == "A" else "XENAPI_POOL_B_HTTP_URL"] + "/sim/" + name
    request = urllib.request.Request(url, data=json.dumps(list(args)).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as resp:
        return json.load(resp)


def vm_info(pool, name):
    """The VM as xen_vm_info reports it (ad hoc, as a user would look)."""
    url = E["XENAPI_POOL_%s_URL" % pool]
    proc = run(["ansible", "localhost", "-m", "novaops.compute.xen_vm_info", "-o",
                "-a", "name=%s url=%s record=false chains=false password=%s" % (name, url, E["XENAPI_POOL_%s_PASSWORD" % pool])],
               capture_output=True, text=True, check=False)
    out = proc.stdout
    return json.loads(out[out.index("{"):]) if "{" in out else {}


def vm_whole(pool, name):
    """The VM's whole record as xen_vm_info shows it (a disk's vhd-parent apart: a snapshot's base copy waits for
    the GC)."""
    url = E["XENAPI_POOL_%s_URL" % pool]
    proc = run(["ansible", "localhost", "-m", "novaops.compute.xen_vm_info", "-o",
                "-a", "name=%s url=%s chains=false password=%s" % (name, url, E["XENAPI_POOL_%s_PASSWORD" % pool])],
               capture_output=True, text=True, check=False)
    out = proc.stdout
    facts = (json.loads(out[out.index("{"):]) if "{" in out else {}).get("vm") or {}
    for disk_facts in facts.get("disks", []):
        disk_facts.pop("vhd_parent", None)
    return facts


def result_msgs(playbook_run):
    """The msg of every task result of a run, failed or not."""
    with open(playbook_run.log) as handle:
        text = handle.read().split("\n--- stderr\n")[0]
    data = json.loads(text[text.index("{"):])
    return [str(result.get("msg")) for play in data.get("plays", []) for task in play.get("tasks", [])
            for result in task.get("hosts", {}).values() if result.get("msg")]


def sh(*argv):
    return run(argv, capture_output=True, text=True, check=False)


def ovs_setup():
    """A bridge with an uplink, and the VIF's device (a veth) that ovs_vif plugs, as xapi's vif script would."""
    sh("ovs-vsctl", "--if-exists", "del-br", BRIDGE)
    sh("ovs-vsctl", "add-br", BRIDGE, "--", "set", "bridge", BRIDGE, "datapath_type=netdev")
    for dev in (VIF_PORT, UPLINK):
        sh("ip", "link", "add", dev, "type", "veth", "peer", "name", dev + "p")
        sh("ip", "link", "set", dev, "up")
    sh("ovs-vsctl", "--may-exist", "add-port", BRIDGE, UPLINK)


def main():
    out = E.get("OUTPUT_DIR", "/tmp")
    ovs_setup()
    disk("xen-template", "A", TEMPLATE, 64)
    disk("xen-template", "B", TEMPLATE, 64)
    ssh = dict(host=E["NOVAOPS_SSH_HOST"], port=int(E["NOVAOPS_SSH_PORT"]), user=E["NOVAOPS_SSH_USER"],
               private_key_file=E["NOVAOPS_SSH_KEY"], known_hosts_file=E["NOVAOPS_SSH_KNOWN_HOSTS"])
    inventory = write_inventory(os.path.join(out, TAG + "-inventory.json"), {
        NAME: dict(compute_driver="xenapi", instance_template=TEMPLATE, instance_rescue_template="Debian Bookworm 12",
                   instance_flavor=dict(vcpus=1, memory_mb=256),
                   instance_vifs=[dict(network="Pool-wide network associated with eth0", mac="02:00:00:00:7e:01",
                                       bridge=BRIDGE, port=VIF_PORT, ips=[IP], max_rate=614400000, queue_id=QUEUE)],
                   ovs_qos_port=UPLINK,
                   xenapi_url=E["XENAPI_POOL_A_URL"], resize_ssh=ssh,
                   resize_dest_xenapi=dict(url=E["XENAPI_POOL_B_URL"]), resize_dest_sr=E["XENAPI_POOL_B_SR_UUID"],
                   resize_shutdown_timeout=5, resize_timeout=120)},
        dict(glance=dict(project_id="nt-ro", roles=["admin"])))
    pb = Playbooks(inventory, os.path.join(out, TAG + "-runs"))
    try:
        scenario(pb)
    finally:
        cleanup(pb)
    check.exit()


def same_bytes(where, ref, pool="A", name=NAME):
    got = disk("xen-sum", pool, name)
    check(got["sum"] == ref and got["fsck_rc"] == 0, "%s: the instance's files are intact (%s)" % (where, got["sum"][:16]),
          got)
    return got


def scenario(pb):
    # ---- boot
    r = pb.run("boot", check=True)
    check.run_ok(r, "boot, check mode, predicts a change", changed=True)
    check(not vm_info("A", NAME).get("exists"), "check mode made no VM")
    check.run_ok(pb.run("boot"), "boot", changed=True)
    check.run_ok(pb.run("boot"), "boot again", changed=False)
    seen = vm_info("A", NAME)
    check(seen.get("vm", {}).get("power_state") == "running", "the VM runs")
    flows, tc = sh("ovs-ofctl", "dump-flows", BRIDGE).stdout, sh("tc", "class", "show", "dev", UPLINK).stdout
    check("nw_src=%s" % IP in flows and "set_queue:%d" % QUEUE in flows and "1:%x" % (QUEUE + 1) in tc
          and "ceil 614400Kbit" in tc and VIF_PORT in sh("ovs-vsctl", "list-ports", BRIDGE).stdout,
          "its VIF's port is on the bridge with anti-spoofing flows, a queue flow and the HTB class", (flows, tc))
    ref = disk("xen-fill", "A", NAME, 8)["sum"]       # the guest installs itself: files on the root disk
    same_bytes("after the guest wrote its files", ref)

    # ---- snapshot
    image = TAG + "-snap"
    r = pb.run("snapshot", "-e", "image_name=" + image)
    check.run_ok(r, "snapshot", changed=True)
    check.run_ok(pb.run("snapshot", "-e", "image_name=" + image), "snapshot again", changed=False)
    ids = disk("glance-images", image)["ids"]
    check(len(ids) == 1, "one image of that name in Glance", ids)
    got = disk("xen-glance-sum", ids[0])
    check(got["sum"] == ref, "the image in Glance holds the instance's files", got)
    same_bytes("after the snapshot", ref)
    boot_from_snapshot(pb, ids[0], ref)

    # ---- rescue, unrescue
    check.run_ok(pb.run("rescue", check=True), "rescue, check mode, predicts a change", changed=True)
    check((vm_info("A", NAME).get("vm") or {}).get("power_state") == "running" and
          not vm_info("A", NAME + "-rescue").get("exists"), "check mode left the instance running, made no rescue VM")
    check.run_ok(pb.run("rescue"), "rescue", changed=True)
    check.run_ok(pb.run("rescue"), "rescue again", changed=False)
    orig, rescue = vm_info("A", NAME).get("vm") or {}, vm_info("A", NAME + "-rescue").get("vm") or {}
    check(orig.get("power_state") == "halted" and orig.get("bootlocked"), "the instance is halted and bootlocked", orig)
    check(rescue.get("power_state") == "running" and
          [d["vdi_uuid"] for d in rescue.get("disks", []) if d["userdevice"] == "1"] ==
          [d["vdi_uuid"] for d in orig.get("disks", []) if d["userdevice"] == "0"],
          "the rescue VM runs with the instance's root disk at userdevice 1")
    same_bytes("in rescue", ref)
    check.run_ok(pb.run("unrescue"), "unrescue", changed=True)
    check.run_failed(pb.run("unrescue"), "unrescue of an instance not in rescue", "is not in rescue")
    check(not vm_info("A", NAME + "-rescue").get("exists"), "the rescue VM is gone")
    back = vm_info("A", NAME).get("vm") or {}
    check(back.get("power_state") == "running" and not back.get("bootlocked") and
          back.get("disks") and back["disks"][0]["vdi_uuid"] == orig["disks"][0]["vdi_uuid"],
          "the instance runs again from its own root disk, unlocked")
    same_bytes("after the unrescue", ref)

    # ---- hard reboot: running, then left halted
    r = pb.run("hard_reboot", plain=True)
    check.run_ok(r, "hard reboot of a running VM", changed=True)
    check.shown(r, "its summary", "nothing was broken; restarted as asked")
    disk_uuid = back["disks"][0]["vdi_uuid"]
    run(["ansible", "localhost", "-m", "novaops.compute.xen_vm", "-a",
         "name=%s state=halted force=true" % NAME], capture_output=True, check=False)
    check((vm_info("A", NAME).get("vm") or {}).get("power_state") == "halted", "the VM was left halted")
    r = pb.run("hard_reboot", plain=True)
    check.run_ok(r, "hard reboot of a halted VM", changed=True)
    check.shown(r, "its summary", "found it was halted")
    check((vm_info("A", NAME).get("vm") or {}).get("power_state") == "running", "it runs again")
    same_bytes("after the hard reboots", ref)

    # ---- a resize whose copy fails: the transfer plugin call on pool a fails
    sim("A", "fault_add", "host.call_plugin", ["XENAPI_PLUGIN_FAILURE", "transfer_vhd", "OSError", "injected"], 1, 1)
    try:
        r = pb.run("resize", extra=dict(flavor=dict(vcpus=2, memory_mb=512, root_mb=96)))
    finally:
        sim("A", "faults_clear")
    check.run_failed(r, "a resize whose copy fails", "was given its name back")
    seen = vm_info("A", NAME).get("vm") or {}
    check(seen.get("power_state") == "running" and seen["disks"][0]["vdi_uuid"] == disk_uuid,
          "the original runs again under its name, on its own disk", seen.get("power_state"))
    check(not vm_info("B", NAME).get("exists"), "nothing was left on pool b")
    check(not disk("xen-vdis", "B", NAME)["vdis"], "no VDI was left on pool b")
    same_bytes("after the failed resize", ref)

    # ---- resize up to pool b, revert
    up = dict(flavor=dict(vcpus=2, memory_mb=512, root_mb=96))
    check.run_ok(pb.run("resize", extra=up), "resize up to pool b", changed=True)
    check.run_ok(pb.run("resize", extra=up), "resize up again", changed=False)
    check.run_failed(pb.run("resize", extra=dict(flavor=dict(vcpus=4, memory_mb=512, root_mb=96))),
                     "another resize while one waits for confirm", "confirm or revert that resize before another")
    new = vm_info("B", NAME).get("vm") or {}
    check(new.get("power_state") == "running" and new.get("vcpus") == 2 and new.get("memory_mb") == 512,
          "the resized instance runs on pool b with 2 VCPUs and 512 MiB")
    got = same_bytes("on pool b, grown", ref, pool="B")
    check(got["size"] == 96 * 1048576, "its root disk is 96 MiB", got["size"])
    check((vm_info("A", NAME + "-orig").get("vm") or {}).get("power_state") == "halted", "the original waits as -orig")
    resize_verify(pb, ref)
    check.run_ok(pb.run("resize", extra=dict(action="revert")), "revert", changed=True)
    check.run_ok(pb.run("resize", extra=dict(action="revert")), "revert again", changed=False)
    check(not vm_info("B", NAME).get("exists") and not disk("xen-vdis", "B", NAME)["vdis"],
          "the resized instance and its disks are gone from pool b")
    seen = vm_info("A", NAME).get("vm") or {}
    check(seen.get("power_state") == "running" and seen["disks"][0]["vdi_uuid"] == disk_uuid and seen["vcpus"] == 1,
          "the original runs again, on its own disk, with its flavor")
    same_bytes("after the revert", ref)

    # ---- a resize down that the filesystem does not fit: refused before anything changes, while the VM runs
    before = vm_whole("A", NAME)
    r = pb.run("resize", extra=dict(flavor=dict(vcpus=1, memory_mb=256, root_mb=4)))
    check.run_failed(r, "a resize down that the filesystem does not fit", "The filesystem does not fit")
    check(r.changed == 0, "it reports no change", r.changed)
    after = vm_whole("A", NAME)
    check(after == before and after.get("power_state") == "running",
          "the VM's whole record (name, power state, other_config, consoles, ...) is what it was",
          [key for key in sorted(set(before) | set(after)) if before.get(key) != after.get(key)])
    same_bytes("after the refused shrink", ref)

    # ---- resize down to pool b, confirm
    down = dict(flavor=dict(vcpus=1, memory_mb=256, root_mb=48))
    check.run_ok(pb.run("resize", extra=down), "resize down to pool b", changed=True)
    check.run_ok(pb.run("resize", extra=down), "resize down again", changed=False)
    got = same_bytes("on pool b, shrunk", ref, pool="B")
    check(got["size"] == 48 * 1048576, "its root disk is 48 MiB", got["size"])
    same_bytes("the original, untouched", ref, name=NAME + "-orig")
    check.run_ok(pb.run("resize", extra=dict(action="confirm")), "confirm", changed=True)
    check.run_ok(pb.run("resize", extra=dict(action="confirm")), "confirm again", changed=False)
    check(not vm_info("A", NAME + "-orig").get("exists") and not disk("xen-vdis", "A", NAME)["vdis"],
          "the original and every disk of it are gone from pool a")
    for action in ("confirm", "revert"):
        check.run_failed(pb.run("resize", extra=dict(action=action, instance_name=NAME + "x")),
                         "%s of a misspelled instance name" % action, "inventory variable instance_name")
        r = pb.run("resize", extra=dict(action=action))
        check.run_ok(r, "%s with nothing pending" % action, changed=False)
        check(any("there was nothing to %s" % action in msg for msg in result_msgs(r)),
              "its result says that nothing was pending", result_msgs(r))

    # ---- the dom0 plugins, installed into a directory standing for /etc/xapi.d/plugins
    installed = os.path.join(E.get("OUTPUT_DIR", "/tmp"), TAG + "-xapi.d")
    plugins = dict(xapi_plugins_dest=installed, xapi_plugins_commands=["rsync", "ssh"], ansible_become=False,
                   novaops_xenserver_hosts="localhost")
    check.run_ok(pb.run("xapi_plugins", extra=plugins), "xapi_plugins", changed=True)
    check.run_ok(pb.run("xapi_plugins", extra=plugins), "xapi_plugins again", changed=False)
    source = os.path.join(collection_root(), "files", "xapi.d", "plugins")
    same = all(open(os.path.join(source, f), "rb").read() == open(os.path.join(installed, f), "rb").read()
               for f in ("glance", "migration", "novaops_plugin_utils.py"))
    check(same and os.access(os.path.join(installed, "glance"), os.X_OK), "the plugins are there, byte for byte, executable")
    check.run_failed(pb.run("xapi_plugins", extra=dict(plugins, xapi_plugins_commands=["vhd-util-nowhere"])),
                     "xapi_plugins on a host without a command", "vhd-util-nowhere is not on the host's PATH")

    # ---- bad input: refused before anything happens
    # as the operator sees them: naming what the operator set, no dump of the role's argument spec
    for what, playbook, extra, text in (
            ("boot with an unknown driver", "boot", dict(compute_driver="vmware"), "compute_driver is 'vmware'"),
            ("boot with a flavor without memory_mb", "boot", dict(instance_flavor=dict(vcpus=1)),
             "instance_flavor has no memory_mb"),
            ("a new VM's boot without a template", "boot", dict(instance_name=NAME + "-new", instance_template=""),
             "the inventory variable instance_template"),
            ("hard reboot of a misspelled instance name", "hard_reboot", dict(instance_name=NAME + "x"),
             "the inventory variable instance_name"),
            ("snapshot of a misspelled instance name", "snapshot", dict(instance_name=NAME + "x", image_name=TAG + "-x"),
             "the inventory variable instance_name")):
        r = pb.run(playbook, extra=extra, plain=True)
        check(r.failed and r.changed == 0 and "argument_spec_data" not in r.text,
              "%s fails, changing nothing, with no argument spec dump" % what, r.log)
        check.shown(r, what, text)
    check(not vm_info("A", NAME + "-new").get("exists"), "no VM was made without a template")
    check.run_failed(pb.run("resize", extra=dict(flavor=dict(vcpus="many"))), "resize to a flavor of 'many' vcpus",
                     "resize_flavor")
    check.run_failed(pb.run("snapshot", extra=dict(image_name="")), "snapshot without an image name",
                     "give the image a name")


def glance_gets(image_id):
    """GETs of the image's data in Glance's access log (uwsgi's request log)."""
    with open(os.path.join(E["NOVAOPS_BEDS_DIR"], "glance", "uwsgi.log"), errors="replace") as handle:
        return sum(1 for line in handle if "GET /v2/images/%s/file " % image_id in line)


def boot_from_snapshot(pb, image_id, ref):
    """The round trip (issue 24): a NEW instance booted from the snapshot image holds the same files; the image is
    downloaded into the SR once (the second instance's boot asks Glance for no data), each root a clone grown to
    the flavor's root_gb; the cache is refused while they use it and goes after them."""
    gets = glance_gets(image_id)
    new = dict(instance_image=dict(id=image_id), instance_template="", instance_vifs=[],
               instance_flavor=dict(vcpus=1, memory_mb=256, root_gb=1))
    check.run_ok(pb.run("boot", check=True, extra=dict(new, instance_name=NAME2)),
                 "boot from the snapshot image, check mode, predicts a change", changed=True)
    check(glance_gets(image_id) == gets and not vm_info("A", NAME2).get("exists"),
          "check mode downloaded nothing and made no VM")
    check.run_ok(pb.run("boot", extra=dict(new, instance_name=NAME2)), "boot a new instance from the snapshot image",
                 changed=True)
    check(glance_gets(image_id) == gets + 1, "Glance sent the image's data once", glance_gets(image_id) - gets)
    check.run_ok(pb.run("boot", extra=dict(new, instance_name=NAME2)), "boot it again", changed=False)
    got = same_bytes("the new instance, booted from the snapshot", ref, name=NAME2)
    check(got["size"] == 1 << 30, "its root disk is grown to the flavor's 1 GiB", got["size"])
    check.run_ok(pb.run("boot", extra=dict(new, instance_name=NAME3)), "boot a second instance from it", changed=True)
    check(glance_gets(image_id) == gets + 1, "the second instance's boot asked Glance for no data",
          glance_gets(image_id) - gets)
    same_bytes("the second instance", ref, name=NAME3)
    roots = [(vm_info("A", name).get("vm") or {}).get("disks", [{}])[0].get("vdi_uuid") for name in (NAME2, NAME3)]
    check(len(set(roots)) == 2 and None not in roots, "each instance has a root disk of its own", roots)
    r = cache("absent", image_id)
    check(r.get("failed") and NAME2 in r.get("msg", "") and NAME3 in r.get("msg", ""),
          "the cached image is refused removal, naming the two instances that use it", r.get("msg"))
    for name in (NAME2, NAME3):
        run(["ansible", "localhost", "-m", "novaops.compute.xen_vm", "-a", "name=%s state=absent force=true" % name],
            capture_output=True, check=False)
    r = cache("absent", image_id)
    check(r.get("changed") and not r.get("failed"), "with the instances gone the cache goes", r.get("msg"))


def cache(state, image_id):
    proc = run(["ansible", "localhost", "-o", "-m", "novaops.compute.xen_image", "-a",
                "image=%s state=%s glance='{\"project_id\": \"nt-ro\", \"roles\": [\"admin\"]}'" % (image_id, state)],
               capture_output=True, text=True, check=False)
    out = proc.stdout
    result = json.loads(out[out.index("{"):]) if "{" in out else dict(msg=proc.stderr)
    result["failed"] = proc.returncode != 0          # the one-line output says FAILED! outside its JSON
    return result


def resize_verify(pb, ref):
    """Nova's RESIZED: only confirm and revert. A hard reboot by the instance's UUID started the halted
    original beside the resized copy; by name, and a rescue, found no VM and said nothing of the resize."""
    orig = vm_info("A", NAME + "-orig").get("vm") or {}
    for what, outcome in (("hard reboot", pb.run("hard_reboot")),
                          ("hard reboot by UUID", pb.run("hard_reboot", extra=dict(instance_uuid=orig.get("uuid")))),
                          ("rescue", pb.run("rescue"))):
        check.run_failed(outcome, "%s while the resize waits for confirm" % what, "confirm or revert the resize first")
    check((vm_info("A", NAME + "-orig").get("vm") or {}).get("power_state") == "halted" and
          not vm_info("A", NAME + "-rescue").get("exists") and
          (vm_info("B", NAME).get("vm") or {}).get("power_state") == "running",
          "the original still waits halted, no rescue VM, the resized instance runs on pool b")
    same_bytes("the original, after the refusals", ref, name=NAME + "-orig")


def collection_root():
    for path in E.get("ANSIBLE_COLLECTIONS_PATH", "").split(os.pathsep):
        candidate = os.path.join(path, "ansible_collections", "novaops", "compute")
        if os.path.isdir(os.path.join(candidate, "files", "xapi.d", "plugins")):
            return candidate
    return os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", ".."))


def cleanup(pb):
    for pool in ("A", "B"):
        for name in (NAME, NAME + "-orig", NAME + "-rescue", NAME + "-resize", NAME2, NAME3):
            where = "url=%s password=%s" % (E["XENAPI_POOL_%s_URL" % pool], E["XENAPI_POOL_%s_PASSWORD" % pool])
            run(["ansible", "localhost", "-m", "novaops.compute.xen_vm", "-a", "name=%s state=absent %s" % (name, where)],
                capture_output=True, check=False)
    sh("ovs-vsctl", "--if-exists", "del-br", BRIDGE)
    for dev in (VIF_PORT, UPLINK):
        sh("ip", "link", "del", dev)
    run(["ansible", "localhost", "-m", "novaops.compute.xen_snapshot", "-a",
         "image_name=%s-snap state=absent glance='{\"project_id\": \"nt-ro\", \"roles\": [\"admin\"]}'" % TAG],
        capture_output=True, check=False)


if __name__ == "__main__":
    main()

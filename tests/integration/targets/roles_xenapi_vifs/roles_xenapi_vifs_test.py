# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A XenServer instance's VIF wiring after each operation that restarts it (issue 20 item 8), on the real OVS and tc.

dom0 (the simulator pools, started with --dom0-ovs by the beds) makes a port vif<domid>.<device> on the network's
bridge when a VM starts and removes it when it stops; the domid is new at every start. After boot, hard reboot,
rescue (the rescue VM's port), unrescue, resize (the resized VM on pool b) and revert, the VIF's port of the
running VM has the anti-spoofing flows (a packet from its own address goes to the HTB queue, a spoofed one is
dropped, as ofproto/trace sees it), its vm-uuid is the running VM's, the tc class has its ceil, no flow is left for
a port that is gone, and a boot run again reports no change.
"""

from __future__ import annotations

import os
import random
import re
import ssl
import string
import xmlrpc.client
from subprocess import run

import XenAPI
from roles_lib import Checks, Playbooks, disk, write_inventory

E = os.environ
TAG = "nt-rv-x" + "".join(random.choice(string.ascii_lowercase) for _letter in range(4))
NAME, NET = TAG + "-1", TAG + "-net"
TEMPLATE = "nt-ro-tmpl-64"
BRIDGE, UPLINK = "brv" + TAG[-4:], "uv" + TAG[-4:]
MAC, IP, QUEUE, RATE = "02:00:00:00:7e:51", "10.79.0.5", 13949, 614400000
check = Checks()


def sh(*argv):
    return run(argv, capture_output=True, text=True, check=False)


def xen(pool):
    context = ssl.create_default_context(cafile=E["XENAPI_CA_PATH"])
    session = XenAPI.Session(E["XENAPI_POOL_%s_URL" % pool], transport=xmlrpc.client.SafeTransport(context=context))
    session.login_with_password(E["XENAPI_POOL_%s_USERNAME" % pool], E["XENAPI_POOL_%s_PASSWORD" % pool], "1.0",
                                "roles_xenapi_vifs")
    return session


def running_vm(pool, name):
    """(uuid, dom0's port of its VIF 0) of the VM of that name, read over XenAPI; (None, None) when it is not running."""
    session = xen(pool)
    try:
        x = session.xenapi
        for ref in x.VM.get_by_name_label(name):
            if x.VM.get_power_state(ref) == "Running":
                return x.VM.get_uuid(ref), "vif%s.0" % x.VM.get_domid(ref)
        return None, None
    finally:
        session.xenapi.session.logout()


def ofport(port):
    out = sh("ovs-vsctl", "get", "Interface", port, "ofport").stdout.strip()
    return int(out) if out.isdigit() else None


def wired(where, pool, name):
    """The VIF's port of the running VM carries the wiring, and nothing is left for ports that are gone."""
    uuid, port = running_vm(pool, name)
    ports = sh("ovs-vsctl", "list-ports", BRIDGE).stdout.split()
    if not check(port in ports, "%s: dom0's port %s of the running %s is on the bridge" % (where, port, name), ports):
        return port
    vm_uuid = sh("ovs-vsctl", "get", "Interface", port, "external_ids:vm-uuid").stdout.strip().strip('"')
    check(vm_uuid == uuid, "%s: the port's vm-uuid is the running VM's" % where, (vm_uuid, uuid))
    live = set(ofport(p) for p in ports) | {65534}
    flows = sh("ovs-ofctl", "dump-flows", BRIDGE).stdout
    used = set(int(n) for n in re.findall(r"in_port=(\d+)", flows))
    check(used == {ofport(port)} and not used - live,
          "%s: the anti-spoofing flows are on its port (%s) only, none left on a port that is gone" % (where, ofport(port)),
          flows)
    own = sh("ovs-appctl", "ofproto/trace", BRIDGE, "in_port=%s,ip,dl_src=%s,nw_src=%s,nw_dst=10.79.0.9" % (port, MAC, IP)).stdout
    spoofed = sh("ovs-appctl", "ofproto/trace", BRIDGE,
                 "in_port=%s,ip,dl_src=%s,nw_src=10.79.0.99,nw_dst=10.79.0.9" % (port, MAC)).stdout
    check("set_queue:%d" % QUEUE in own and "Datapath actions: drop" not in own,
          "%s: its traffic from %s goes to queue %d" % (where, IP, QUEUE), own[-1500:])
    check("Datapath actions: drop" in spoofed, "%s: its traffic from a spoofed address is dropped" % where, spoofed[-1500:])
    tc = sh("tc", "class", "show", "dev", UPLINK).stdout
    check(re.search(r"class htb 1:%x .*ceil 614400Kbit" % (QUEUE + 1), tc) is not None,
          "%s: the HTB class 1:%x has its ceil" % (where, QUEUE + 1), tc)
    return port


def setup():
    sh("ovs-vsctl", "--if-exists", "del-br", BRIDGE)
    sh("ovs-vsctl", "add-br", BRIDGE, "--", "set", "bridge", BRIDGE, "datapath_type=netdev")
    sh("ip", "link", "add", UPLINK, "type", "veth", "peer", "name", UPLINK + "p")
    sh("ip", "link", "set", UPLINK, "up")
    sh("ovs-vsctl", "--may-exist", "add-port", BRIDGE, UPLINK)
    for pool in ("A", "B"):
        session = xen(pool)
        try:
            session.xenapi.network.create(dict(name_label=NET, name_description="", MTU="1500", bridge=BRIDGE,
                                               other_config={}, tags=[]))
        finally:
            session.xenapi.session.logout()
        disk("xen-template", pool, TEMPLATE, 64)


def main():
    out = E.get("OUTPUT_DIR", "/tmp")
    setup()
    ssh = dict(host=E["NOVAOPS_SSH_HOST"], port=int(E["NOVAOPS_SSH_PORT"]), user=E["NOVAOPS_SSH_USER"],
               private_key_file=E["NOVAOPS_SSH_KEY"], known_hosts_file=E["NOVAOPS_SSH_KNOWN_HOSTS"])
    inventory = write_inventory(os.path.join(out, TAG + "-inventory.json"), {
        NAME: dict(compute_driver="xenapi", instance_template=TEMPLATE, instance_rescue_template="Debian Bookworm 12",
                   instance_flavor=dict(vcpus=1, memory_mb=256),
                   instance_vifs=[dict(network=NET, mac=MAC, bridge=BRIDGE, ips=[IP], max_rate=RATE, queue_id=QUEUE,
                                       port="vif1.0")],     # as the docs once asked: an old domain's port
                   ovs_qos_port=UPLINK, xenapi_url=E["XENAPI_POOL_A_URL"], xenapi_ca_path=E["XENAPI_CA_PATH"],
                   resize_ssh=ssh, resize_dest_xenapi=dict(url=E["XENAPI_POOL_B_URL"]),
                   resize_dest_sr=E["XENAPI_POOL_B_SR_UUID"], resize_shutdown_timeout=5, resize_timeout=120)})
    pb = Playbooks(inventory, os.path.join(out, TAG + "-runs"))
    try:
        scenario(pb)
    finally:
        cleanup()
    check.exit()


def boot_again(pb, after):
    check.run_ok(pb.run("boot"), "boot again after the %s" % after, changed=False)


def scenario(pb):
    check.run_ok(pb.run("boot"), "boot", changed=True)
    first = wired("after the boot", "A", NAME)
    boot_again(pb, "boot")

    check.run_ok(pb.run("hard_reboot"), "hard reboot", changed=True)
    port = wired("after the hard reboot", "A", NAME)
    check(port != first, "the hard reboot gave the VIF a new port", (first, port))
    boot_again(pb, "hard reboot")

    check.run_ok(pb.run("rescue"), "rescue", changed=True)
    wired("in rescue (the rescue VM)", "A", NAME + "-rescue")
    check.run_ok(pb.run("unrescue"), "unrescue", changed=True)
    wired("after the unrescue", "A", NAME)
    boot_again(pb, "unrescue")

    up = dict(flavor=dict(vcpus=2, memory_mb=512))
    check.run_ok(pb.run("resize", extra=up), "resize to pool b", changed=True)
    wired("after the resize (the resized VM on pool b)", "B", NAME)
    check.run_ok(pb.run("resize", extra=dict(action="revert")), "revert", changed=True)
    wired("after the revert", "A", NAME)
    boot_again(pb, "revert")


def cleanup():
    for pool in ("A", "B"):
        where = "url=%s password=%s" % (E["XENAPI_POOL_%s_URL" % pool], E["XENAPI_POOL_%s_PASSWORD" % pool])
        for name in (NAME, NAME + "-orig", NAME + "-rescue"):
            run(["ansible", "localhost", "-m", "novaops.compute.xen_vm", "-a",
                 "name=%s state=absent force=true %s" % (name, where)], capture_output=True, check=False)
        session = xen(pool)
        try:
            for ref in session.xenapi.network.get_by_name_label(NET):
                session.xenapi.network.destroy(ref)
        finally:
            session.xenapi.session.logout()
    sh("ovs-vsctl", "--if-exists", "del-br", BRIDGE)
    sh("ip", "link", "del", UPLINK)


if __name__ == "__main__":
    main()

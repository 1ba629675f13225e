"""dom0's VIF ports on the machine's real Open vSwitch (``--dom0-ovs``): a port ``vif<domid>.<device>`` with
XenServer's external_ids on the network's bridge while the VM runs, a new domid (and port) at each start and
reboot, none left after a shutdown, none for a network whose bridge is not on this OVS."""

import json
import os
import subprocess

import pytest
import XenAPI

from conftest import start_server, stop_server


def vsctl(*args):
    return subprocess.run(["ovs-vsctl", "--timeout=5"] + list(args), capture_output=True, text=True, check=False)


pytestmark = pytest.mark.skipif(vsctl("show").returncode != 0,
                                reason="no Open vSwitch answering here (make beds starts one)")
BRIDGE = "brxsim%d" % (os.getpid() % 10000)


@pytest.fixture(scope="module")
def x(tmp_path_factory):
    vsctl("--if-exists", "del-br", BRIDGE)
    vsctl("add-br", BRIDGE, "--", "set", "bridge", BRIDGE, "datapath_type=netdev")
    info, _, _ = start_server(str(tmp_path_factory.mktemp("dom0ovs")), name="pool-ovs", extra=("--dom0-ovs", "--hosts", "2"))
    session = XenAPI.Session(info.url)
    session.login_with_password(info.user, info.password, "1.0", "dom0-ovs-tests")
    yield session.xenapi
    session.xenapi.session.logout()
    stop_server(info)
    vsctl("--if-exists", "del-br", BRIDGE)


def ports():
    return sorted(vsctl("list-ports", BRIDGE).stdout.split())


def external_ids(port):
    out = vsctl("--format=json", "--columns=external_ids", "list", "Interface", port).stdout
    return dict(json.loads(out)["data"][0][0][1])


def test_ports_follow_the_domain(x):
    tpl = x.VM.get_by_name_label("Debian Bookworm 12")[0]
    vm = x.VM.clone(tpl, "ovs-vm")
    x.VM.provision(vm)
    net = x.network.create({"name_label": "ovs-net", "bridge": BRIDGE, "MTU": "1500", "other_config": {}})
    default_net = x.network.get_by_name_label("Pool-wide network associated with eth0")[0]
    vifs = [x.VIF.create({"device": device, "network": network, "VM": vm, "MAC": mac, "MTU": "1500",
                          "other_config": other, "qos_algorithm_type": "", "qos_algorithm_params": {}})
            for device, network, mac, other in (("0", net, "02:00:00:aa:00:01", {"nicira-iface-id": "port-0"}),
                                                ("1", net, "02:00:00:aa:00:02", {}),
                                                ("2", default_net, "02:00:00:aa:00:03", {}))]
    assert ports() == []
    x.VM.start(vm, False, False)
    domid = int(x.VM.get_domid(vm))
    assert ports() == ["vif%d.0" % domid, "vif%d.1" % domid]     # none for xenbr0, not on this OVS
    ids = external_ids("vif%d.0" % domid)
    assert vsctl("get", "Interface", "vif%d.0" % domid, "type").stdout.strip() == '""'     # a system device
    assert ids == {"attached-mac": "02:00:00:aa:00:01", "iface-id": "port-0", "iface-status": "active",
                   "xs-vm-uuid": x.VM.get_uuid(vm), "vm-id": x.VM.get_uuid(vm), "xs-vif-uuid": x.VIF.get_uuid(vifs[0]),
                   "xs-network-uuid": x.network.get_uuid(net)}
    assert external_ids("vif%d.1" % domid)["iface-id"] == x.VIF.get_uuid(vifs[1])
    seen = {domid}
    for op in (x.VM.hard_reboot, x.VM.clean_reboot):
        op(vm)
        domid = int(x.VM.get_domid(vm))
        assert domid not in seen and ports() == ["vif%d.0" % domid, "vif%d.1" % domid], (op, domid, ports())
        seen.add(domid)
    x.VM.hard_shutdown(vm)
    assert ports() == [] and x.VM.get_domid(vm) == "-1"
    assert not os.path.exists("/sys/class/net/vif%d.0" % domid)      # the backend device went with the domain
    taken = "vif%d.0" % (max(seen) + 1)      # another host's domain has the next domid's names here
    subprocess.run(["ip", "link", "add", taken, "type", "veth", "peer", "name", taken + "x"], check=True)
    vsctl("add-port", BRIDGE, taken)
    x.VM.start(vm, False, False)
    assert int(x.VM.get_domid(vm)) > max(seen) + 1
    x.VM.hard_shutdown(vm)
    assert ports() == [taken]
    subprocess.run(["ip", "link", "del", taken], check=False)


def test_pool_migrate_is_a_new_domain_with_new_ports(x):
    tpl = x.VM.get_by_name_label("Debian Bookworm 12")[0]
    vm = x.VM.clone(tpl, "ovs-mig")
    x.VM.provision(vm)
    net = x.network.create({"name_label": "ovs-mig-net", "bridge": BRIDGE, "MTU": "1500", "other_config": {}})
    x.VIF.create({"device": "0", "network": net, "VM": vm, "MAC": "02:00:00:aa:01:01", "MTU": "1500",
                  "other_config": {}, "qos_algorithm_type": "", "qos_algorithm_params": {}})
    others = set(ports())       # what an earlier test left on the bridge
    x.VM.start(vm, False, False)
    before = int(x.VM.get_domid(vm))
    assert set(ports()) - others == {"vif%d.0" % before}
    other = next(h for h in x.host.get_all() if h != x.VM.get_resident_on(vm))
    x.VM.pool_migrate(vm, other, {"live": "true"})
    after = int(x.VM.get_domid(vm))
    assert after != before and set(ports()) - others == {"vif%d.0" % after}
    x.VM.hard_shutdown(vm)
    assert set(ports()) == others

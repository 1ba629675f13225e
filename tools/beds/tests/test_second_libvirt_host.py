"""The second libvirt host: a host of its own to libvirt (uuid, name, address, disks), one start, clean stop.

A live migration between the two libvirt beds is only possible when libvirt believes they are
two hosts (it refuses "to migrate guest to the same host" on one host_uuid), and a block
migration only proves something when the destination's instances directory is not the source's.
The migration itself is proved by the libvirt_migrate integration target.
"""

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
SCRIPT = REPO / "tools" / "beds" / "beds.py"

pytestmark = pytest.mark.skipif(shutil.which("libvirtd") is None or os.geteuid() != 0,
                                reason="libvirt is not installed (make deps), or not root (namespaces)")


def virsh(uri, *args):
    return subprocess.run(["virsh", "-c", uri] + list(args), capture_output=True, text=True, check=True,
                          timeout=30).stdout


@pytest.fixture(scope="module")
def host2(tmp_path_factory):
    root = tmp_path_factory.mktemp("host2-beds")
    instances = Path("/var/lib/novaops-beds") / ("test-host2-%s" % uuid.uuid4().hex[:8])
    env = dict(os.environ, NOVAOPS_BEDS_DIR=str(root), NOVAOPS_INSTANCES_DIR=str(instances),
               NOVAOPS_LIBVIRT2_SUBNET="10.252.%d" % (os.getpid() % 250))

    def beds(*args):
        return subprocess.run([sys.executable, str(SCRIPT)] + list(args), env=env, capture_output=True,
                              text=True, check=True).stdout
    first = beds("start", "libvirt2")
    values = json.loads((root / "env.json").read_text())
    yield dict(values, beds=beds, first=first, root=root, instances=instances)
    beds("stop", "libvirt2")
    for path in (instances, Path(str(instances) + "-host2"), Path(str(instances) + "-shared")):
        shutil.rmtree(path, ignore_errors=True)


def test_it_starts_once_and_answers_on_its_own_address(host2):
    assert "started" in host2["first"]
    assert "already running" in host2["beds"]("start", "libvirt2")
    assert host2["NOVAOPS_LIBVIRT2_URI"] == "qemu+tcp://%s/system" % host2["NOVAOPS_LIBVIRT2_ADDRESS"]
    assert virsh(host2["NOVAOPS_LIBVIRT2_URI"], "hostname").strip() == "novaops-host2"


def test_libvirt_sees_another_host(host2):
    """Its own host uuid (the one libvirt compares before a migration), and none of the first host's domains."""
    def host_uuid(uri):
        caps = virsh(uri, "capabilities")
        return caps.split("<uuid>", 1)[1].split("</uuid>", 1)[0]
    assert host_uuid(host2["NOVAOPS_LIBVIRT2_URI"]) != host_uuid("qemu:///system")
    assert virsh(host2["NOVAOPS_LIBVIRT2_URI"], "list", "--all", "--name").strip() == ""


def test_its_instances_directory_is_its_own_and_the_shared_one_is_shared(host2):
    """A file written at the instances path here is not there (block migration), one in the shared dir is."""
    def on_host2(command):
        return subprocess.run(["ssh", "-i", str(host2["root"] / "sshd" / "id_ed25519"), "-o", "BatchMode=yes",
                               "-o", "UserKnownHostsFile=%s" % host2["NOVAOPS_LIBVIRT2_KNOWN_HOSTS"],
                               "root@%s" % host2["NOVAOPS_LIBVIRT2_ADDRESS"], command],
                              capture_output=True, text=True, check=True, timeout=30).stdout
    here = host2["instances"] / "written-on-host1"
    here.write_text("1")
    shared = Path(host2["NOVAOPS_SHARED_INSTANCES_DIR"]) / "written-on-host1"
    shared.write_text("1")
    assert on_host2("ls %s %s 2>&1; hostname" % (here, shared)).split("\n")[-2:] == ["novaops-host2", ""]
    assert "No such file" in on_host2("ls %s 2>&1 || true" % here)
    assert on_host2("cat %s" % shared) == "1"
    on_host2("echo 2 > %s/written-on-host2" % host2["instances"])
    assert (Path(host2["NOVAOPS_LIBVIRT2_INSTANCES_DIR"]) / "written-on-host2").read_text() == "2\n"


def test_its_open_vswitch_is_its_own(host2):
    """A bridge made on it (over its sshd, as Ansible plugs a VIF there) is in its OVS, with its device in its
    namespace, and not in the first host's; the bridge's OpenFlow socket is reachable from here."""
    bridge = "nt-h2t%d" % (os.getpid() % 100000)
    ssh = ["ssh", "-i", host2["NOVAOPS_LIBVIRT2_SSH_KEY"], "-o", "BatchMode=yes",
           "-o", "UserKnownHostsFile=%s" % host2["NOVAOPS_LIBVIRT2_KNOWN_HOSTS"],
           "root@%s" % host2["NOVAOPS_LIBVIRT2_ADDRESS"]]
    subprocess.run(ssh + ["ovs-vsctl add-br %s -- set Bridge %s datapath_type=netdev" % (bridge, bridge)],
                   check=True, capture_output=True, timeout=30)
    try:
        db = ["ovs-vsctl", "--db=" + host2["NOVAOPS_LIBVIRT2_OVS_DB"]]
        assert bridge in subprocess.run(db + ["list-br"], capture_output=True, text=True, check=True).stdout.split()
        assert subprocess.run(["ovs-vsctl", "br-exists", bridge], capture_output=True).returncode == 2
        assert subprocess.run(["ip", "link", "show", bridge], capture_output=True).returncode != 0
        assert subprocess.run(["ip", "netns", "exec", host2["NOVAOPS_LIBVIRT2_NETNS"], "ip", "link", "show", bridge],
                              capture_output=True).returncode == 0
        socket_path = "unix:%s/%s.mgmt" % (host2["NOVAOPS_LIBVIRT2_OVS_RUNDIR"], bridge)
        flows = subprocess.run(["ovs-ofctl", "dump-flows", socket_path], capture_output=True, text=True,
                               check=True).stdout
        assert "actions=NORMAL" in flows
    finally:
        subprocess.run(ssh + ["ovs-vsctl --if-exists del-br %s" % bridge], capture_output=True, timeout=30)


def test_stop_ends_its_daemons_and_its_namespace(host2):
    netns = host2["NOVAOPS_LIBVIRT2_NETNS"]
    host2["beds"]("stop", "libvirt2")
    assert netns not in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split()
    assert "started" in host2["beds"]("start", "libvirt2")

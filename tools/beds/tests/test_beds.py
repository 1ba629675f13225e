"""The beds start once, start again as a no-op, and stop only what they started.

Runs the real bed script against the real daemons; it leaves the beds running so the
integration tests that follow can use them.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
BEDS = Path(os.environ.get("NOVAOPS_BEDS_DIR", REPO / ".beds"))
SCRIPT = REPO / "tools" / "beds" / "beds.py"
# bed -> the process names it runs (the xapisim pools are python processes)
PROCESSES = {"libvirt": ["libvirtd", "virtlogd"], "libvirt2": ["libvirtd", "sshd", "ovsdb-server", "ovs-vswitchd"],
             "ovs": ["ovsdb-server", "ovs-vswitchd"],
             "glance": ["uwsgi"], "sshd": ["sshd"], "xapisim": ["pool-a", "pool-b", "lane2-pool-a", "lane2-pool-b"], "console_proxy": ["proxy"],
             "keystone": ["uwsgi", "uwsgi-short"], "glance-keystone": ["uwsgi"]}


def beds(*args):
    return subprocess.run([sys.executable, str(SCRIPT)] + list(args), check=True,
                          stdout=subprocess.PIPE, text=True).stdout


def owned(bed):
    try:
        return json.loads((BEDS / bed / "owned.json").read_text())
    except (OSError, ValueError):
        return []


def alive(pid):
    try:
        state = Path("/proc/%d/stat" % pid).read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def foreign(proc):
    """A process in a network namespace of its own that is not one of these beds': another checkout's
    second libvirt host (its daemons run in a namespace; these beds' own are in their owned.json, or their
    command line names their beds - ovs-vswitchd's names only the /run/openvswitch of its namespace).
    A process under another root is foreign too: fresh-check's demo, which runs beside this test in
    `make test`, starts beds of its own in a chroot, and its checkout's path may be this one's."""
    try:
        if os.readlink(proc / "root") != os.readlink("/proc/self/root"):
            return True
        if os.readlink(proc / "ns" / "net") == os.readlink("/proc/self/ns/net"):
            return False
        if int(proc.name) in set(item["pid"] for bed in PROCESSES for item in owned(bed)):
            return False
        return str(BEDS) not in (proc / "cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False


def count(name):
    """Live processes whose command name is ``name`` (comm is cut to 15 characters), other beds' aside."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        comm = text[text.index("(") + 1:text.rindex(")")]
        if comm == name[:15] and text.rsplit(")", 1)[1].split()[0] != "Z" and not foreign(stat.parent):
            total += 1
    return total


def available_beds():
    out = beds("status")
    return [line.split()[1] for line in out.splitlines() if "not available" not in line]


def test_start_twice_leaves_exactly_one_of_each_service():
    beds("start")
    second = beds("start")
    names = available_beds()
    assert {"libvirt", "ovs", "sshd", "glance", "keystone", "glance-keystone"} <= set(names), \
        "a bed's package is missing: %s" % names
    for bed in names:
        assert "%s" % bed in second and "already running" in [l for l in second.splitlines() if bed in l][0]
    for name in ("libvirtd", "virtlogd", "ovsdb-server", "ovs-vswitchd"):
        # the second libvirt host runs a libvirtd and an Open vSwitch of its own
        assert count(name) == 1 + (name != "virtlogd" and "libvirt2" in names), name
    for bed in ("sshd", "glance", "keystone", "glance-keystone", "xapisim", "libvirt2", "console_proxy"):
        if bed in names:
            names_owned = sorted(item["name"] for item in owned(bed))
            assert names_owned == sorted(PROCESSES[bed]), (bed, names_owned)
            assert all(alive(item["pid"]) for item in owned(bed))


def test_stop_ends_only_what_the_beds_started_then_start_again():
    bystander = subprocess.Popen(["sleep", "300"])
    try:
        ours = [item["pid"] for bed in PROCESSES for item in owned(bed)]
        assert ours, "no bed processes recorded"
        beds("stop")
        deadline = time.monotonic() + 10
        while any(alive(pid) for pid in ours) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert [pid for pid in ours if alive(pid)] == []
        assert bystander.poll() is None, "beds-stop killed a process it did not start"
    finally:
        bystander.send_signal(signal.SIGTERM)
        bystander.wait()
        beds("start")
    assert "running" in beds("status")


def test_env_file_exports_every_beds_address():
    env = (BEDS / "env.sh").read_text()
    for key in ("LIBVIRT_DEFAULT_URI", "NOVAOPS_GLANCE_URL", "NOVAOPS_SSH_KEY", "NOVAOPS_SSH_KNOWN_HOSTS",
                "NOVAOPS_KEYSTONE_URL", "NOVAOPS_GLANCE_KEYSTONE_URL", "NOVAOPS_CLOUDS_YAML"):
        assert "export %s=" % key in env
    if "libvirt2" in available_beds():
        for key in ("NOVAOPS_LIBVIRT2_URI", "NOVAOPS_LIBVIRT2_ADDRESS", "NOVAOPS_SHARED_INSTANCES_DIR",
                    "NOVAOPS_LIBVIRT2_OVS_DB", "NOVAOPS_LIBVIRT2_OVS_RUNDIR", "NOVAOPS_LIBVIRT2_SSH_KEY"):
            assert "export %s=" % key in env
    if "xapisim" in available_beds():
        for key in ("XENAPI_URL", "XENAPI_USERNAME", "XENAPI_PASSWORD", "XENAPI_POOL_B_URL", "XENAPI_CA_PATH"):
            assert "export %s=" % key in env
        # the second integration lane's own pair of pools, on ports of their own
        values = json.loads((BEDS / "env.json").read_text())
        for key in ("XENAPI_URL", "XENAPI_POOL_B_URL", "XENAPI_HELPER_VM_UUID", "XENAPI_POOL_B_SR_DIR"):
            assert values["NOVAOPS_LANE2_" + key] != values[key]
    if "console_proxy" in available_beds():
        for key in ("NOVAOPS_CONSOLE_PROXY_URL", "NOVAOPS_CONSOLE_KEY", "NOVAOPS_CONSOLE_PROXY_LOG"):
            assert "export %s=" % key in env
    assert oct(os.stat(BEDS / "env.sh").st_mode & 0o777) == "0o600"

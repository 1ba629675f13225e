"""A real third-party XenAPI client against the simulator: community.general.xenserver_guest.

It creates a VM from a template, powers it on, and a second identical run changes nothing.
The XenAPI calls of each run are printed (pytest -s shows them) from the simulator's
counters; they also feed bench/xen_vm.py's comparison.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import XenAPI

from conftest import start_server, stop_server
from xapisim.testkit import xenserver_guest_play

BIN = Path(sys.executable).parent
SITE = Path(sys.prefix) / "lib" / ("python%d.%d" % sys.version_info[:2]) / "site-packages"
PEER = SITE / "ansible_collections" / "community" / "general" / "plugins" / "modules" / "xenserver_guest.py"

PLAYBOOK = xenserver_guest_play("peer-vm", "[{size_gb: 1, name: peer-disk}]", "{{ out }}")


@pytest.fixture(scope="module")
def private_sim(tmp_path_factory):
    info, _cmd, _env = start_server(str(tmp_path_factory.mktemp("peer")), name="pool-peer")
    yield info
    stop_server(info)


def run_peer(sim, tmp_path, name):
    book = tmp_path / "peer.yml"
    book.write_text(PLAYBOOK)
    out = tmp_path / ("%s.json" % name)
    sim.sim("counters_reset")
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(SITE), PATH="%s:%s" % (BIN, os.environ["PATH"]),
               ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_INVENTORY_UNPARSED_WARNING="false")
    proc = subprocess.run([str(BIN / "ansible-playbook"), str(book), "-e",
                           json.dumps(dict(url=sim.url, password=sim.password, out=str(out)))],
                          env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:]
    calls = {k: int(v) for k, v in sim.sim("counters").items()}
    return json.loads(out.read_text()), calls


@pytest.mark.skipif(not PEER.exists(), reason="community.general is not installed (pip install ansible)")
def test_xenserver_guest_creates_starts_and_then_changes_nothing(private_sim, tmp_path):
    first, first_calls = run_peer(private_sim, tmp_path, "first")
    second, second_calls = run_peer(private_sim, tmp_path, "second")
    assert first["changed"] is True and second["changed"] is False
    assert second["instance"]["state"] == "poweredon"

    session = XenAPI.Session(private_sim.url)
    session.xenapi.login_with_password("root", private_sim.password, "1.0", "test")
    try:
        refs = session.xenapi.VM.get_by_name_label("peer-vm")
        assert len(refs) == 1
        record = session.xenapi.VM.get_record(refs[0])
        assert record["power_state"] == "Running" and record["VCPUs_max"] == "2"
        assert record["memory_static_max"] == str(512 * 1024 * 1024)
        disks = [session.xenapi.VBD.get_record(vbd) for vbd in record["VBDs"]]
        assert any(d["type"] == "Disk" for d in disks)
    finally:
        session.xenapi.session.logout()

    for label, calls in (("create+start", first_calls), ("no-change re-run", second_calls)):
        print("xenserver_guest %s: %d XenAPI calls: %s" % (
            label, sum(calls.values()), ", ".join("%s=%d" % kv for kv in sorted(calls.items()))))

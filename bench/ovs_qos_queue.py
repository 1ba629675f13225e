#!/usr/bin/env python3
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""No-change run: novaops.compute.ovs_qos_queue vs openvswitch.openvswitch.openvswitch_db.

Both set a queue's other_config:max-rate to the value it already has, on the real OVS bed
(a netdev bridge and a veth port made here and removed at the end). Each side runs as an
ansible-playbook of LOOP iterations of its module; the two playbooks alternate for REPS
repetitions in the same run, at a raised priority (_kit.high_priority: other sessions' work on
the shared machine otherwise decides the times); the ratio is of the median wall times
(ours / peer), lower is better, and each repetition's ratio is shown for the spread.

The peer checks one value (the queue's max-rate) where ours checks the port's whole QoS: its
reference to the QoS, the QoS's type and max-rate, and the queue's max-rate. A second peer
playbook checks those same four values with openvswitch_db (one task each), for the ratio of
the same state verified; the target stands against the one-value peer.

    python bench/ovs_qos_queue.py            # standalone
    make bench                               # via bench/run.py
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from _kit import high_priority

REPO = Path(__file__).resolve().parent.parent
VENV = Path(os.environ.get("VENV", Path.home() / ".cache/novaops-compute/venv"))


def _build_dir():
    """The tree with ansible_collections/novaops/compute: $BUILD, else ANSIBLE_COLLECTIONS_PATH (make bench)."""
    if os.environ.get("BUILD"):
        return os.environ["BUILD"]
    for path in os.environ.get("ANSIBLE_COLLECTIONS_PATH", "").split(":"):
        if path and Path(path, "ansible_collections/novaops/compute").is_dir():
            return path
    return "/tmp/nc-build-ovs"


BUILD = _build_dir()
BRIDGE, PORT, QUEUE_ID, RATE = "nt-bench-br", "nt-bench1", 13947, 614400000
LOOP = int(os.environ.get("BENCH_LOOP", "10"))
REPS = int(os.environ.get("BENCH_REPS", "5"))


def sh(*argv, check=True):
    return subprocess.run(argv, check=check, capture_output=True, text=True)


def ensure_build():
    coll = Path(BUILD) / "ansible_collections/novaops/compute"
    if not (coll / "plugins/modules/ovs_qos_queue.py").exists():
        subprocess.run(["make", "-s", "-C", str(REPO), "collection", "BUILD=%s" % BUILD], check=True)


# openvswitch.openvswitch left the `ansible` package after 10.x; when the venv's `ansible`
# lacks it, take it (it has no dependencies) from the ansible 10.7.0 wheel, once, via pip.
PEERS = Path(os.environ.get("NOVAOPS_PEERS_DIR", Path.home() / ".cache/novaops-compute/peers"))
PEER_WHEEL = "ansible==10.7.0"


def peer_path():
    site = VENV / "lib/python3.11/site-packages"
    if (site / "ansible_collections/openvswitch/openvswitch").is_dir():
        return str(site)
    if not (PEERS / "ansible_collections/openvswitch/openvswitch").is_dir():
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run([str(VENV / "bin/pip"), "download", "-q", "--no-deps", PEER_WHEEL, "-d", tmp], check=True)
            wheel = next(Path(tmp).glob("ansible-*.whl"))
            with zipfile.ZipFile(wheel) as whl:
                for name in whl.namelist():
                    if name.startswith("ansible_collections/openvswitch/openvswitch/"):
                        whl.extract(name, PEERS)
    return str(PEERS)


def env():
    e = dict(os.environ)
    e["PATH"] = "%s:%s" % (VENV / "bin", e.get("PATH", ""))
    e["ANSIBLE_COLLECTIONS_PATH"] = "%s:%s:%s" % (BUILD, VENV / "lib/python3.11/site-packages", peer_path())
    e["ANSIBLE_PYTHON_INTERPRETER"] = str(VENV / "bin/python")
    e["ANSIBLE_LOCALHOST_WARNING"] = "false"
    e["ANSIBLE_INVENTORY_UNPARSED_WARNING"] = "false"
    return e


def playbook(path, *tasks):
    """LOOP runs of each task; the play fails if any of them changed something."""
    body = []
    for n, task in enumerate(tasks):
        body += [dict(task, loop=list(range(LOOP)), register="r%d" % n),
                 {"ansible.builtin.assert": {"that": ["r%d.results | selectattr('changed') | list == []" % n]}}]
    path.write_text(json.dumps([{"hosts": "localhost", "gather_facts": False, "connection": "local", "tasks": body}]))


def peer_task(table, record, col, value, key=None):
    args = {"table": table, "record": record, "col": col, "value": value}
    if key:
        args["key"] = key
    return {"openvswitch.openvswitch.openvswitch_db": args}


def run_playbook(path):
    started = time.monotonic()
    proc = subprocess.run([str(VENV / "bin/ansible-playbook"), "-i", "localhost,", str(path)],
                          capture_output=True, text=True, env=env())
    elapsed = time.monotonic() - started
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-3000:] + proc.stderr[-2000:])
        raise SystemExit("bench ovs_qos_queue: playbook %s failed" % path.name)
    return elapsed


def report(t_ours, t_peer, what, target):
    m_ours, m_peer = statistics.median(t_ours), statistics.median(t_peer)
    pairs = [a / b for a, b in zip(t_ours, t_peer)]
    print("ovs_qos_queue no-change x%d: novaops.compute.ovs_qos_queue median %.2fs, "
          "openvswitch.openvswitch.openvswitch_db%s median %.2fs (%d repetitions each); per-repetition ratios %s"
          % (LOOP, m_ours, what, m_peer, REPS, " ".join("%.2f" % r for r in pairs)))
    print("RATIO ovs_qos_queue no-change run vs openvswitch.openvswitch.openvswitch_db%s (wall time): %.2f "
          "(ours %.2fs, peer %.2fs; median of %d playbooks of %d runs each; per-repetition %.2f-%.2f%s)"
          % (what, m_ours / m_peer, m_ours, m_peer, REPS, LOOP, min(pairs), max(pairs), target))


def main():
    ensure_build()
    sh("ovs-vsctl", "--may-exist", "add-br", BRIDGE, "--", "set", "bridge", BRIDGE, "datapath_type=netdev")
    qos_uuid = queue_uuid = None
    try:
        if sh("ip", "link", "show", PORT, check=False).returncode != 0:
            sh("ip", "link", "add", PORT, "type", "veth", "peer", "name", PORT + "p")
        sh("ip", "link", "set", PORT, "up")
        sh("ovs-vsctl", "--may-exist", "add-port", BRIDGE, PORT)
        out = sh("ovs-vsctl", "--", "set", "port", PORT, "qos=@q", "--", "--id=@q", "create", "qos",
                 "type=linux-htb", "other_config:max-rate=1000000000", "queues:%d=@u" % QUEUE_ID,
                 "--", "--id=@u", "create", "queue", "other_config:max-rate=%d" % RATE).stdout.split()
        qos_uuid, queue_uuid = out[0], out[1]
        with tempfile.TemporaryDirectory() as tmp:
            ours, peer, peer_same = Path(tmp, "ours.json"), Path(tmp, "peer.json"), Path(tmp, "peer_same.json")
            playbook(ours, {"novaops.compute.ovs_qos_queue": {
                "port": PORT, "queues": [{"id": QUEUE_ID, "max_rate": RATE}]}})
            queue_rate = peer_task("Queue", queue_uuid, "other_config", str(RATE), key="max-rate")
            playbook(peer, queue_rate)
            playbook(peer_same, peer_task("Port", PORT, "qos", qos_uuid),
                     peer_task("QoS", qos_uuid, "type", "linux-htb"),
                     peer_task("QoS", qos_uuid, "other_config", "1000000000", key="max-rate"), queue_rate)
            times = dict((path, []) for path in (ours, peer, peer_same))
            for path in times:
                run_playbook(path)  # warm caches
            with high_priority():
                for _ in range(REPS):
                    for path, seen in times.items():
                        seen.append(run_playbook(path))
        report(times[ours], times[peer], "", "; target <= 1.0")
        report(times[ours], times[peer_same], ", checking the same 4 values (one task each)", "")
    finally:
        if qos_uuid:
            sh("ovs-vsctl", "--if-exists", "clear", "port", PORT, "qos", "--", "--if-exists", "destroy", "qos", qos_uuid,
               "--", "--if-exists", "destroy", "queue", queue_uuid, check=False)
        sh("ovs-vsctl", "--if-exists", "del-br", BRIDGE, check=False)
        sh("ip", "link", "del", PORT, check=False)


if __name__ == "__main__":
    main()

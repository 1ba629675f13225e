#!/usr/bin/env python3
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""libvirt_domain against community.libvirt.virt and against bare virsh, in the same run.

(a) A playbook of 10 no-change tasks of novaops.compute.libvirt_domain (each checks the
    whole configuration - flavor, disks, VIFs, VNC, metadata - and the run state) against
    community.libvirt.virt doing the same: keeping the same domain defined from the same XML
    and running, ``command: define`` + ``state: running`` (two of its tasks for one of ours,
    20 tasks), and against its ``state: running`` alone (10 tasks that check less: the
    stricter ratio).
(b) A hard reboot (libvirt_domain hard_reboot=true, run as a module process) against
    ``virsh destroy`` + ``virsh start`` of the same domain.

Standalone: ``python bench/libvirt_domain.py`` (needs the beds: ``make beds``), or ``make bench``.
community.libvirt.virt needs lxml; it is installed once into ~/.cache/novaops-compute/bench-deps
(pip --target) and put on the modules' PYTHONPATH for both sides alike.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from _kit import build_collection, sh

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV = os.environ.get("VENV", os.path.expanduser("~/.cache/novaops-compute/venv"))
PY = os.path.join(VENV, "bin", "python")
BUILD = os.environ.get("NOVAOPS_BENCH_BUILD", "/tmp/nc-build-lv-bench")
DEPS = os.path.expanduser("~/.cache/novaops-compute/bench-deps")
URI = "qemu:///system"
NAME = "nt-bench-lvd"
TASKS = 10
ROUNDS = int(os.environ.get("NOVAOPS_BENCH_ROUNDS", "3"))


def ensure_lxml():
    probe = subprocess.run([PY, "-c", "import lxml"], capture_output=True,
                           env=dict(os.environ, PYTHONPATH=DEPS))
    if probe.returncode != 0:
        sh([os.path.join(VENV, "bin", "pip"), "install", "-q", "--disable-pip-version-check", "--target", DEPS, "lxml"])


def env():
    e = dict(os.environ)
    e["ANSIBLE_COLLECTIONS_PATH"] = "%s:%s/lib/python3.11/site-packages" % (BUILD, VENV)
    e["PATH"] = os.path.join(VENV, "bin") + ":" + e.get("PATH", "")
    e["ANSIBLE_PYTHON_INTERPRETER"] = PY
    e["ANSIBLE_HOST_KEY_CHECKING"] = "False"
    e["ANSIBLE_STDOUT_CALLBACK"] = "ansible.builtin.minimal"
    e.setdefault("LIBVIRT_DEFAULT_URI", URI)
    return e


def playbook(path, tasks):
    with open(path, "w") as handle:
        json.dump([dict(hosts="localhost", gather_facts=False, environment=dict(PYTHONPATH=DEPS),
                        tasks=tasks)], handle, indent=1)


def run_playbook(path):
    started = time.monotonic()
    proc = subprocess.run([os.path.join(VENV, "bin", "ansible-playbook"), "-i", "localhost,", "-c", "local", path],
                          capture_output=True, text=True, env=env())
    took = time.monotonic() - started
    if proc.returncode != 0:
        raise SystemExit("playbook %s failed:\n%s\n%s" % (path, proc.stdout[-3000:], proc.stderr[-3000:]))
    if "CHANGED" in proc.stdout:
        raise SystemExit("playbook %s reported a change on a no-change run:\n%s" % (path, proc.stdout[-3000:]))
    return took


def main():
    build_collection(BUILD)
    ensure_lxml()
    tmp = tempfile.mkdtemp(prefix="nt-bench-lvd-")
    os.chmod(tmp, 0o755)
    image = os.path.join(tmp, "image.qcow2")
    sh(["qemu-img", "create", "-q", "-f", "qcow2", image, "16M"])
    sh(["qemu-io", "-c", "write -P 0xab 0 1M", image])
    args = dict(name=NAME, virt_type="qemu", instances_path=os.path.join(tmp, "instances"), timeout=10,
                flavor=dict(vcpus=1, memory_mb=64, root_gb=1), image=dict(path=image),
                vnc=dict(listen="127.0.0.1"), uri=URI)
    try:
        ours = os.path.join(tmp, "ours.json")
        playbook(os.path.join(tmp, "boot.json"), [{"novaops.compute.libvirt_domain": args}])
        subprocess.run([os.path.join(VENV, "bin", "ansible-playbook"), "-i", "localhost,", "-c", "local",
                        os.path.join(tmp, "boot.json")], check=True, capture_output=True, env=env())
        xml = sh(["virsh", "-c", URI, "dumpxml", "--inactive", NAME]).stdout
        playbook(ours, [{"name": "ours %d" % i, "novaops.compute.libvirt_domain": args} for i in range(TASKS)])
        peer_state = os.path.join(tmp, "peer_state.json")
        playbook(peer_state, [{"name": "peer running %d" % i,
                               "community.libvirt.virt": dict(name=NAME, state="running", uri=URI)}
                              for i in range(TASKS)])
        # The peer redefines on every run (virDomainDefineXML, then compares the XML).
        peer_same = os.path.join(tmp, "peer_same.json")
        same_tasks = []
        for i in range(TASKS):
            same_tasks.append({"name": "peer define %d" % i,
                               "community.libvirt.virt": dict(command="define", xml=xml, uri=URI)})
            same_tasks.append({"name": "peer running %d" % i,
                               "community.libvirt.virt": dict(name=NAME, state="running", uri=URI)})
        playbook(peer_same, same_tasks)
        empty = os.path.join(tmp, "empty.json")
        playbook(empty, [])
        times = dict(ours=[], peer_state=[], peer_same=[], empty=[])
        for _round in range(ROUNDS):
            for key, path in (("ours", ours), ("peer_state", peer_state), ("peer_same", peer_same),
                              ("empty", empty)):
                times[key].append(run_playbook(path))
        med = dict((k, statistics.median(v)) for k, v in times.items())
        print("(a) %d no-change tasks, median of %d runs (an empty playbook: %.2fs):" % (TASKS, ROUNDS, med["empty"]))
        print("    novaops.compute.libvirt_domain (whole config + state):   %.2fs" % med["ours"])
        print("    community.libvirt.virt define + state=running (20):      %.2fs" % med["peer_same"])
        print("    community.libvirt.virt state=running only (10):          %.2fs" % med["peer_state"])
        print("RATIO nochange_10_tasks_vs_virt_define_and_running: %.2f (%.2fs / %.2fs)"
              % (med["ours"] / med["peer_same"], med["ours"], med["peer_same"]))
        print("RATIO nochange_10_tasks_vs_virt_running_only: %.2f (%.2fs / %.2fs)"
              % (med["ours"] / med["peer_state"], med["ours"], med["peer_state"]))

        # (b) hard reboot
        module = os.path.join(BUILD, "ansible_collections/novaops/compute/plugins/modules/libvirt_domain.py")
        argsfile = os.path.join(tmp, "hr.json")
        with open(argsfile, "w") as handle:
            json.dump(dict(ANSIBLE_MODULE_ARGS=dict(name=NAME, hard_reboot=True, instances_path=args["instances_path"],
                                                    timeout=30, uri=URI)), handle)
        menv = dict(os.environ, PYTHONPATH=BUILD)
        ours_hr, virsh_hr, inside = [], [], []
        for _round in range(ROUNDS):
            started = time.monotonic()
            out = subprocess.run([PY, module, argsfile], capture_output=True, text=True, env=menv)
            ours_hr.append(time.monotonic() - started)
            result = json.loads(out.stdout)
            if result.get("failed") or result["domain"]["state"] != "running":
                raise SystemExit("hard reboot failed: %s" % out.stdout[-2000:])
            inside.append(result["duration"])
            started = time.monotonic()
            sh(["virsh", "-c", URI, "destroy", NAME])
            sh(["virsh", "-c", URI, "start", NAME])
            virsh_hr.append(time.monotonic() - started)
        o, v = statistics.median(ours_hr), statistics.median(virsh_hr)
        print("(b) hard reboot, median of %d:" % ROUNDS)
        print("    libvirt_domain hard_reboot (module process): %.2fs (inside the module: %.2fs)"
              % (o, statistics.median(inside)))
        print("    virsh destroy + virsh start:                 %.2fs" % v)
        print("RATIO hard_reboot_vs_virsh_destroy_start: %.2f (%.2fs / %.2fs)" % (o / v, o, v))
    finally:
        subprocess.run(["virsh", "-c", URI, "destroy", NAME], capture_output=True)
        subprocess.run(["virsh", "-c", URI, "undefine", "--managed-save", NAME], capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

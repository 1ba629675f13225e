#!/usr/bin/env python3
"""What the operation lock costs a changing run: the same module with and without it, in one run.

A run that changes an instance takes the mark, reads and plans again under it, and removes the
mark at the end.  Baseline: the same manager class with its operation_lock() returning None
(what the modules did before #13).  Both drive the module code in this process (no
ansible-playbook start-up in the numbers), interleaved, ROUNDS times each:

- xen_vm against a private simulator: start, then hard shutdown (force) of one VM - XenAPI calls
  per run (``sim.counters``) and wall time;
- libvirt_domain against the libvirtd bed: pause, then resume a domain of type qemu - wall time.

Both run at a raised priority (_kit.high_priority, the simulator too: it inherits it), so that other
sessions' work on the shared cores does not fill the gaps between a call and its answer.

Prints ``RATIO <case> calls|time: locked/unlocked`` (above 1: what the lock adds) with its target
(issue #22: at most 2 calls more, at most 1.2x the time).

Standalone: ``python3 bench/operation_lock.py`` (the project's venv python; this checkout).
"""

import importlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from _kit import high_priority

REPO = Path(__file__).resolve().parent.parent
# a run takes ~10 ms: with 10 rounds the median of the time ratio moved with the machine's load
ROUNDS = int(os.environ.get("OPERATION_LOCK_BENCH_ROUNDS", "30"))
PASSWORD = "bench-password"
PREFIX = "bench-ol-%d" % os.getpid()
# issue #22: what the lock may add to a changing run
TARGETS = {"xen_vm calls": "at most 2 calls more than unlocked", "xen_vm time": "<= 1.2",
           "libvirt_domain time": "<= 1.2"}


def collection(workdir):
    """Import path holding this checkout as ansible_collections.novaops.compute."""
    link = Path(workdir) / "ansible_collections" / "novaops" / "compute"
    link.parent.mkdir(parents=True)
    link.symlink_to(REPO)
    sys.path.insert(0, str(workdir))


class Sim:
    """A private xapisim on a free port, plain HTTP: nobody else's calls land in its counters."""

    def __init__(self, workdir):
        cmd = [sys.executable, "-m", "xapisim", "serve", "--name", PREFIX, "--host", "127.0.0.1", "--port", "0",
               "--state-dir", str(Path(workdir) / "sim"), "--user", "root", "--password", PASSWORD]
        self.proc = subprocess.Popen(cmd, env=dict(os.environ, PYTHONPATH=str(REPO / "tools")),
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if " ready " in line:
                self.url = line.split()[3]
                return
            if not line and self.proc.poll() is not None:
                break
        self.stop()
        raise SystemExit("xapisim did not start")

    def sim(self, name, *args):
        req = urllib.request.Request("%s/sim/%s" % (self.url, name), data=json.dumps(list(args)).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as answer:
            return json.loads(answer.read())["Value"]

    def calls(self):
        return sum(int(v) for k, v in self.sim("counters").items() if not k.startswith(("sim.", "session.")))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(20)


def module_of(name, args):
    """The module's AnsibleModule with these arguments, and the module file itself."""
    from ansible.module_utils import basic
    from ansible.module_utils.common.text.converters import to_bytes
    from ansible_collections.novaops.compute.plugins.module_utils.common.module import NovaopsModule
    code = importlib.import_module("ansible_collections.novaops.compute.plugins.modules.%s" % name)
    basic._ANSIBLE_ARGS = to_bytes(json.dumps(dict(ANSIBLE_MODULE_ARGS=args)))   # pylint: disable=protected-access
    basic._ANSIBLE_PROFILE = "legacy"                                            # pylint: disable=protected-access
    return code.argument_spec().create_ansible_module(NovaopsModule), code


def without_lock(manager_class):
    """The same manager as it was before the lock: no operation_lock."""
    return type("Unlocked" + manager_class.__name__, (manager_class,), dict(operation_lock=lambda self, before: None))


def timed(run):
    started = time.monotonic()
    run()
    return time.monotonic() - started


def spread(locked, unlocked):
    """Quartiles of the paired ratios (the same state in the same round): how much the machine's load moved them."""
    ratios = sorted(a / b for a, b in zip(locked, unlocked))
    quartiles = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else ratios * 3
    return "paired runs' ratios p25-p75 %.2f-%.2f" % (quartiles[0], quartiles[-1])


def xen_vm(workdir):
    from ansible_collections.novaops.compute.plugins.module_utils.xenapi.session import XenAPIConnection
    sim = Sim(workdir)
    try:
        conn_args = dict(url=sim.url, username="root", password=PASSWORD)
        vm = PREFIX + "-vm"
        module, code = module_of("xen_vm", dict(conn_args, name=vm, template="Other install media",
                                                template_disks=False, state="halted"))
        with XenAPIConnection.from_params(module.params) as conn:
            code.VM(module, conn).converge()
        samples = dict(locked=dict(calls=[], time=[]), unlocked=dict(calls=[], time=[]))
        for _round in range(ROUNDS):
            for label, manager in (("locked", code.VM), ("unlocked", without_lock(code.VM))):
                for state in ("running", "halted"):
                    module, _code = module_of("xen_vm", dict(conn_args, name=vm, state=state, force=True))
                    with XenAPIConnection.from_params(module.params) as conn:
                        sim.sim("counters_reset")
                        samples[label]["time"].append(timed(lambda: manager(module, conn).converge()))
                        samples[label]["calls"].append(sim.calls())
        for what in ("calls", "time"):
            locked, unlocked = (statistics.median(samples[k][what]) for k in ("locked", "unlocked"))
            unit = "%.0f" if what == "calls" else "%.3fs"
            print(("RATIO xen_vm start/shutdown %s: %.2f (locked " + unit + " / unlocked " + unit + ", median of %d, "
                   "%s; target %s)") % (what, locked / unlocked, locked, unlocked, len(samples["locked"][what]),
                                        spread(samples["locked"][what], samples["unlocked"][what]),
                                        TARGETS["xen_vm " + what]))
    finally:
        sim.stop()


def libvirt_domain(workdir):
    inst = Path(workdir) / "instances"
    inst.mkdir()
    for path in (Path(workdir), inst):
        path.chmod(0o755)
    image = Path(workdir) / "image.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(image), "16M"], check=True)
    base = dict(name=PREFIX + "-d", virt_type="qemu", instances_path=str(inst), timeout=30,
                uri=os.environ.get("LIBVIRT_DEFAULT_URI", "qemu:///system"))
    module, code = module_of("libvirt_domain", dict(base, flavor=dict(vcpus=1, memory_mb=64),
                                                     image=dict(path=str(image))))
    # the module's main() (libvirt/module_main.run_on_host) quiets libvirt and connects; the bench does it here
    connection = importlib.import_module("ansible_collections.novaops.compute.plugins.module_utils.libvirt.connection")
    connection.quiet_libvirt_errors()
    try:
        with connection.LibvirtConnection.from_params(module.params) as conn:
            code.Domain(module, conn).converge()
        times = dict(locked=[], unlocked=[])
        for _round in range(ROUNDS):
            for label, manager in (("locked", code.Domain), ("unlocked", without_lock(code.Domain))):
                for state in ("paused", "running"):
                    module, _code = module_of("libvirt_domain", dict(base, state=state))
                    with connection.LibvirtConnection.from_params(module.params) as conn:
                        times[label].append(timed(lambda: manager(module, conn).converge()))
        locked, unlocked = statistics.median(times["locked"]), statistics.median(times["unlocked"])
        print("RATIO libvirt_domain pause/resume time: %.2f (locked %.3fs / unlocked %.3fs, median of %d, %s; target %s)"
              % (locked / unlocked, locked, unlocked, len(times["locked"]), spread(times["locked"], times["unlocked"]),
                 TARGETS["libvirt_domain time"]))
    finally:
        module, code = module_of("libvirt_domain", dict(base, state="undefined", delete_disks=True))
        with connection.LibvirtConnection.from_params(module.params) as conn:
            code.Domain(module, conn).converge()


def main():
    workdir = tempfile.mkdtemp(prefix=PREFIX + "-")
    try:
        collection(workdir)
        with high_priority():
            xen_vm(workdir)
            libvirt_domain(workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()

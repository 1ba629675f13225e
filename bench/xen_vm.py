#!/usr/bin/env python3
"""xen_vm against community.general.xenserver_guest: XenAPI calls and wall time.

Both modules run through ansible-playbook against one private XenAPI simulator started by
this script (so that nobody else's calls land in its counters), in the same run, on the
same template and settings: create a VM from a template and start it, then run the same
task again (no change).  Calls come from the simulator's ``sim.counters``; each case runs
ROUNDS times on fresh VM names, ours and the peer's rounds interleaved, and the median wall time is kept.

Prints ``RATIO <case> calls|time: ours/peer`` lines (below 1: fewer / faster).

Standalone: ``python3 bench/xen_vm.py`` (uses the project's venv and this checkout).
"""

import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tools"))
from xapisim.testkit import xenserver_guest_play  # noqa: E402

VENV = Path(os.environ.get("NOVAOPS_VENV", Path.home() / ".cache" / "novaops-compute" / "venv"))
BIN = VENV / "bin"
SITE = VENV / "lib" / ("python%d.%d" % sys.version_info[:2]) / "site-packages"
if not SITE.exists():
    SITE = next((VENV / "lib").glob("python3*/site-packages"))
ROUNDS = int(os.environ.get("XEN_VM_BENCH_ROUNDS", "5"))
PASSWORD = "bench-password"
TEMPLATE = "Debian Bookworm 12"
NETWORK = "Pool-wide network associated with eth0"

OURS = textwrap.dedent("""\
    - hosts: localhost
      gather_facts: false
      tasks:
        - novaops.compute.xen_vm:
            url: "{{ url }}"
            username: root
            password: "{{ password }}"
            name: "{{ vm }}"
            template: "%(template)s"
            state: running
            vcpus: 2
            memory_mb: 512
            disks: [{userdevice: "0", size_gb: 10}, {userdevice: "1", size_gb: 1}]
            vifs: [{network: "%(network)s"}]
          register: out
        - ansible.builtin.copy: {content: "{{ out | to_json }}", dest: "{{ dest }}"}
    """) % dict(template=TEMPLATE, network=NETWORK)

PEER = xenserver_guest_play("{{ vm }}", "[{size_gb: 10}, {size_gb: 1}]", "{{ dest }}")


class Sim:
    """A private xapisim on free ports, plain HTTP (both clients use the same transport)."""

    def __init__(self, workdir):
        self.state = Path(workdir) / "sim"
        cmd = [sys.executable, "-m", "xapisim", "serve", "--name", "bench", "--host", "127.0.0.1", "--port", "0",
               "--state-dir", str(self.state), "--user", "root", "--password", PASSWORD,
               "--plugin-dir", str(REPO / "files" / "xapi.d" / "plugins")]
        env = dict(os.environ, PYTHONPATH=str(REPO / "tools"))
        self.proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        line = ""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line and self.proc.poll() is not None:
                break
            if " ready " in line:
                self.url = line.split()[3]
                return
        self.stop()
        raise SystemExit("xapisim did not start: %s" % line)

    def sim(self, name, *args):
        import urllib.request
        req = urllib.request.Request("%s/sim/%s" % (self.url, name), data=json.dumps(list(args)).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as answer:
            reply = json.loads(answer.read())
        if reply.get("Status") != "Success":
            raise RuntimeError("sim.%s: %s" % (name, reply))
        return reply["Value"]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def collections_path(workdir):
    """A collections tree that holds this checkout as novaops.compute, plus the venv's (peer) collections."""
    tree = Path(workdir) / "collections"
    link = tree / "ansible_collections" / "novaops" / "compute"
    link.parent.mkdir(parents=True, exist_ok=True)
    if not link.exists():
        link.symlink_to(REPO)
    return "%s:%s" % (tree, SITE)


def run(sim, workdir, book_text, vm, label):
    book = Path(workdir) / ("%s.yml" % label)
    book.write_text(book_text)
    dest = Path(workdir) / ("%s-%s.json" % (label, vm))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=collections_path(workdir),
               PATH="%s:%s" % (BIN, os.environ.get("PATH", "")), ANSIBLE_LOCALHOST_WARNING="false",
               ANSIBLE_INVENTORY_UNPARSED_WARNING="false", ANSIBLE_PYTHON_INTERPRETER=str(BIN / "python"))
    for key in [k for k in env if k.startswith("XENAPI_")]:
        del env[key]      # both modules get the private simulator from their task
    sim.sim("counters_reset")
    started = time.monotonic()
    proc = subprocess.run([str(BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local", str(book), "-e",
                           json.dumps(dict(url=sim.url, password=PASSWORD, vm=vm, dest=str(dest)))],
                          env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    elapsed = time.monotonic() - started
    calls = dict((k, int(v)) for k, v in sim.sim("counters").items() if not k.startswith("sim."))
    if proc.returncode:
        raise SystemExit("%s failed:\n%s" % (label, proc.stdout[-4000:]))
    result = json.loads(dest.read_text())
    return result, calls, elapsed


def measure(sim, workdir):
    """Rounds of (ours, peer), interleaved so that load on the machine hits both alike."""
    out = dict((who, {"create+start": ([], []), "no-change re-run": ([], [])}) for who in ("ours", "peer"))
    for i in range(ROUNDS):
        for who, book in (("ours", OURS), ("peer", PEER)):
            vm = "bench-%s-%d" % (who, i)
            first, calls1, t1 = run(sim, workdir, book, vm, who)
            second, calls2, t2 = run(sim, workdir, book, vm, who)
            if not first.get("changed") or second.get("changed"):
                raise SystemExit("%s: expected changed then not changed, got %s / %s"
                                 % (who, first.get("changed"), second.get("changed")))
            for case, calls, elapsed in (("create+start", calls1, t1), ("no-change re-run", calls2, t2)):
                out[who][case][0].append(calls)
                out[who][case][1].append(elapsed)
    return dict((who, dict((case, (calls[-1], sum(calls[-1].values()), statistics.median(times)))
                           for case, (calls, times) in cases.items()))
                for who, cases in out.items())


def main():
    workdir = tempfile.mkdtemp(prefix="bench-xen-vm-")
    sim = Sim(workdir)
    try:
        both = measure(sim, workdir)
        ours, peer = both["ours"], both["peer"]
    finally:
        sim.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    for case in ("create+start", "no-change re-run"):
        (ocalls, on, ot), (pcalls, pn, pt) = ours[case], peer[case]
        print("%s: xen_vm %d calls %.2fs | xenserver_guest %d calls %.2fs" % (case, on, ot, pn, pt))
        print("  xen_vm:          %s" % ", ".join("%s=%d" % kv for kv in sorted(ocalls.items())))
        print("  xenserver_guest: %s" % ", ".join("%s=%d" % kv for kv in sorted(pcalls.items())))
    for case in ("create+start", "no-change re-run"):
        (_oc, on, ot), (_pc, pn, pt) = ours[case], peer[case]
        print("RATIO %s calls: %.2f (xen_vm %d / xenserver_guest %d)" % (case, on / float(pn), on, pn))
        print("RATIO %s time: %.2f (xen_vm %.2fs / xenserver_guest %.2fs, median of %d)"
              % (case, ot / pt, ot, pt, ROUNDS))
    return 0


if __name__ == "__main__":
    sys.exit(main())

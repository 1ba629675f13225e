# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The live-migration cells of the libvirt half: a block migration (libvirt_migrate) that fails.

A counting guest (libvirt_migrate's counting_guest.py: memory that keeps changing, its count on the
serial console) runs on the libvirtd bed; the destination is a second libvirt host of the campaign's
own (beds.py libvirt2 in a directory of its own, another address), whose instances directory is a
tmpfs of the campaign's, so that it can be made small. Three faults: the destination's libvirtd
SIGKILLed while the disk is being copied (and started again, as a supervisor would), the
destination's filesystem full mid-copy, the completion timeout with abort. After each: the guest
runs on the source and counts on, its disk is as it was, and nothing of it is on the destination
(no domain, no file, no directory). Then the same migration, faults gone, converges.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
import uuid

from campaign import TAG, add_row, check, repo_root
from libvirt_faults import Watcher
from module_runs import clean_failure, module_run

GUEST = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "libvirt_migrate", "files",
                     "counting_guest.py")
NAME = TAG + "-lm"
SOURCE = "qemu:///system"
OVERLAY_MIB = 8          # the guest's own data in its overlay: what the copy carries (the base, 8 MiB, first)
ROOMY, SMALL = "64m", "10m"     # the destination's tmpfs: room for all; the base and 2 MiB of the overlay


def sh(*argv, **kwargs):
    return subprocess.run(argv, capture_output=True, text=True, check=False, **kwargs)


class SecondHost:
    """beds.py libvirt2 in <root>/beds2, its instances directory a tmpfs at <root>/host2."""

    def __init__(self, root):
        self.instances = os.path.join(root, "host2")
        os.makedirs(self.instances)
        # mounted before the libvirtd starts: its mount namespace is a copy of ours, the size one superblock
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s,mode=0755" % ROOMY, NAME, self.instances], check=True)
        self.env = dict(os.environ, NOVAOPS_BEDS_DIR=os.path.join(root, "beds2"),
                        NOVAOPS_LIBVIRT2_INSTANCES=self.instances,
                        NOVAOPS_LIBVIRT2_SUBNET="10.254.%d" % (int(hashlib.sha1(TAG.encode()).hexdigest()[:2], 16)))
        self.start()
        with open(os.path.join(self.env["NOVAOPS_BEDS_DIR"], "env.json")) as handle:
            started = json.load(handle)
        self.uri = started["NOVAOPS_LIBVIRT2_URI"]
        if started["NOVAOPS_LIBVIRT2_INSTANCES_DIR"] != self.instances:
            # the beds' checkout predates NOVAOPS_LIBVIRT2_INSTANCES: its instances would be another host's
            self.stop()
            raise RuntimeError("the second host's instances directory is %s, not the campaign's %s: %s/tools/beds/"
                               "beds.py does not know NOVAOPS_LIBVIRT2_INSTANCES (start the beds from this checkout)"
                               % (started["NOVAOPS_LIBVIRT2_INSTANCES_DIR"], self.instances, repo_root()))

    def _beds(self, action):
        proc = sh(sys.executable, os.path.join(repo_root(), "tools", "beds", "beds.py"), action, "libvirt2",
                  env=self.env)
        if proc.returncode:
            raise RuntimeError("beds.py %s libvirt2: %s%s" % (action, proc.stdout, proc.stderr))

    def start(self):
        self._beds("start")

    def stop(self):
        self._beds("stop")
        sh("umount", self.instances)

    def restart_libvirtd(self, _seen):
        with open(os.path.join(self.env["NOVAOPS_BEDS_DIR"], "libvirt2", "owned.json")) as handle:
            pid = [item["pid"] for item in json.load(handle) if item["name"] == "libvirtd"][0]
        os.kill(pid, 9)
        self.start()
        return "libvirtd %d SIGKILLed and started again" % pid

    def resize(self, size):
        subprocess.run(["mount", "-o", "remount,size=%s" % size, self.instances], check=True)

    def has_domain(self, uid):
        return uid in sh("virsh", "-q", "-c", self.uri, "list", "--all", "--uuid").stdout.split()


class MigrateCells:
    def __init__(self, root, host2):
        self.host2 = host2
        self.inst = os.environ["NOVAOPS_INSTANCES_DIR"]
        self.uuid = str(uuid.uuid4())
        self.base = NAME + "-base"
        self.disk = os.path.join(self.inst, self.uuid, "disk")
        self.log = os.path.join(self.inst, self.uuid, "console.log")
        subprocess.run([sys.executable, GUEST, "boot", self.inst, NAME, self.uuid, str(OVERLAY_MIB)],
                       check=True)
        self.sum = self.checksum()
        self.root = root

    def checksum(self):
        with open(self.disk, "rb") as handle:
            return hashlib.sha256(handle.read()).hexdigest()

    def counts(self):
        return json.loads(sh(sys.executable, GUEST, "counts", self.log).stdout or "[]")

    def migrate(self, **extra):
        return module_run("libvirt_migrate", dict(dict(uuid=self.uuid, dest_uri=self.host2.uri, storage="block",
                                                       rollback_timeout=60), **extra), timeout=300)

    def source_state(self):
        return sh("virsh", "-c", SOURCE, "domstate", self.uuid).stdout.strip()

    def cell(self, step, watcher, message, **extra):
        """One failed migration: ``message`` in its failure; then the guest runs here, nothing of it there."""
        failures_before = len(check.failures)
        what = "live migrate / libvirt / %s (%s)" % (step, watcher.what)
        counted = self.counts()
        with watcher:
            run = self.migrate(**extra)
        check(watcher.fired, "%s: the fault happened mid-step, before the run ended" % what,
              watcher.error or run.get("msg"))
        check(clean_failure(run) and message in run["msg"] and "nothing of it is left on the destination" in run["msg"],
              "%s: refused with a message saying nothing is left on the destination" % what, run.get("msg") or run)
        self.after(what, counted)
        outcome = "refused: " + (run.get("msg") or "(no message)")[:90]
        add_row("live migrate", "libvirt", step + " [" + watcher.what + "]", outcome, failures_before)

    def after(self, what, counted):
        """Running here and counting on from where it was, its disk as it was, nothing of it there."""
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and len(self.counts()) < len(counted) + 2:
            time.sleep(0.2)
        now = self.counts()
        check(self.source_state() == "running" and len(now) >= len(counted) + 2 and now == sorted(now),
              "%s: the guest runs on the source and counts on (no restart)" % what, (self.source_state(), now[-3:]))
        check(self.checksum() == self.sum, "%s: its disk is as it was" % what)
        left = [e for e in os.listdir(self.host2.instances) if e != "lost+found"]
        left += [os.path.join("_base", e) for e in os.listdir(os.path.join(self.host2.instances, "_base"))] \
            if "_base" in left else []
        check(not self.host2.has_domain(self.uuid) and left in ([], ["_base"]),
              "%s: nothing of it on the destination (domain, files)" % what,
              dict(domain=self.host2.has_domain(self.uuid), files=left))

    def converges(self):
        failures_before = len(check.failures)
        what = "live migrate / libvirt / the same migration, faults gone"
        run = self.migrate()
        check(not run.get("failed") and run.get("changed") and run.get("completion") == "completed", what,
              run.get("msg") or run)
        check(self.host2.has_domain(self.uuid) and sh("virsh", "-c", SOURCE, "domstate", self.uuid).returncode != 0,
              "%s: the guest is on the destination, not here" % what)
        add_row("live migrate", "libvirt", "re-run", "converged" if not run.get("failed") else run.get("msg"),
                failures_before)

    def remove(self):
        for uri in (SOURCE, self.host2.uri):
            sh(sys.executable, GUEST, "remove", uri, self.uuid)
        sh("rm", "-rf", os.path.join(self.inst, self.uuid), os.path.join(self.inst, "_base", self.base))


def on_destination(host2, uid):
    """A condition: the guest's incoming domain is on the destination (the disk copy under way)."""
    def condition():
        return host2.has_domain(uid)
    return condition


def destination_grows(host2, uid, size):
    """A condition: the guest's overlay on the destination has ``size`` bytes allocated (copy under way)."""
    path = os.path.join(host2.instances, uid, "disk")

    def condition():
        try:
            return os.stat(path).st_blocks * 512 >= size
        except OSError:
            return False
    return condition


def run(root):
    """The live-migration cells (root: a directory of this half's)."""
    try:
        host2 = SecondHost(root)
    except RuntimeError as exc:
        check(False, "live migrate / libvirt: the second host of the campaign starts", str(exc))
        return
    cells = None
    try:
        cells = MigrateCells(root, host2)
        cells.cell("copy the disks", Watcher("destination libvirtd killed", destination_grows(
            host2, cells.uuid, 1024 * 1024), host2.restart_libvirtd, every=0.05), "failed", bandwidth=1)
        host2.resize(SMALL)
        cells.cell("copy the disks", Watcher("destination filesystem full", lambda: True,
                                             lambda _t: "a tmpfs of %s" % SMALL), "failed", completion_timeout=20)
        host2.resize(ROOMY)
        cells.cell("completion timeout", Watcher("abort", lambda: True, lambda _t: "1 s per GiB, at 1 MiB/s"),
                   "completion timeout: aborted", bandwidth=1, completion_timeout=1)
        cells.converges()
    finally:
        if cells is not None:
            cells.remove()
        host2.stop()

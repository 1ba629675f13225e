# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The libvirt faults of the campaign: a watcher that waits for a moment of a step, then kills.

A Watcher polls its condition in a thread while the playbook runs; the first time it holds, the
kill runs.  ``fired`` says whether that happened before the run ended (a step that finished
first never saw its fault, and the cell must say so).  The conditions look at what a user could
see: a QEMU process and its command line, the domain turned transient for a block copy, an image
of the campaign in ``saving``, an rsync process.  ovsdb-server is the shared bed's: it is killed
and started again, same database, same socket, inside one try/finally.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request

from campaign import GLANCE_HEADERS, TAG, repo_root

OVSDB_PIDFILE = "/run/openvswitch/ovsdb-server.pid"


class Watcher:
    """Polls ``condition`` every ``every`` seconds until stop(); the first time it holds, ``kill`` runs once."""

    def __init__(self, what, condition, kill, every=0.02):
        self.what, self.condition, self.kill, self.every = what, condition, kill, every
        self.fired = False
        self.detail = None
        self.error = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(120)
        return False

    def _watch(self):
        while not self._stop.is_set():
            try:
                seen = self.condition()
                if seen:
                    self.detail = self.kill(seen)
                    self.fired = True
                    return
            except Exception as exc:  # pylint: disable=broad-except
                self.error = "%s: %s" % (type(exc).__name__, exc)
                return
            time.sleep(self.every)


# -- what the conditions look at -----------------------------------------------------------------
def processes():
    """(pid, argv) of every process."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/cmdline" % entry, "rb") as handle:
                    argv = handle.read().split(b"\0")
            except OSError:
                continue
            found.append((int(entry), [a.decode(errors="replace") for a in argv if a]))
    return found


def qemu_pids(name, needle=None):
    """PIDs of the QEMU processes of domain ``name`` (whose command line holds ``needle``, when given)."""
    return [pid for pid, argv in processes()
            if argv and "qemu-system" in os.path.basename(argv[0]) and "guest=%s," % name in " ".join(argv)
            and (needle is None or needle in " ".join(argv))]


def qemu_appears(name, needle=None, other_than=()):
    """A condition: a QEMU of ``name`` that is not one of ``other_than`` runs; gives its pid."""
    def condition():
        fresh = [p for p in qemu_pids(name, needle) if p not in other_than]
        return fresh[0] if fresh else None
    return condition


def process_appears(*needles):
    """A condition: a process whose command line holds every needle; gives its pid."""
    def condition():
        for pid, argv in processes():
            line = " ".join(argv)
            if all(n in line for n in needles) and pid != os.getpid():
                return pid
        return None
    return condition


def transient(conn, name):
    """A condition: the domain is running and not persistent (a live snapshot's block copy is on)."""
    def condition():
        try:
            dom = conn.lookupByName(name)
            return dom.isActive() and not dom.isPersistent()
        except Exception:  # pylint: disable=broad-except
            return False
    return condition


def image_saving(glance_url):
    """A condition: an image of the campaign is in 'saving' (its data being uploaded)."""
    def condition():
        request = urllib.request.Request("%s/v2/images?limit=1000" % glance_url, headers=GLANCE_HEADERS)
        with urllib.request.urlopen(request, timeout=10) as resp:
            saving = [i["id"] for i in json.load(resp)["images"]
                      if (i.get("name") or "").startswith(TAG) and i["status"] == "saving"]
        return saving[0] if saving else None
    return condition


# -- the kills -----------------------------------------------------------------------------------
def sigkill(pid):
    os.kill(pid, signal.SIGKILL)
    return "SIGKILL to %d" % pid


def kill_ovsdb_briefly(down=1.0):
    """SIGKILL the shared ovsdb-server, and start it again after ``down`` seconds through the beds
    tool (same database, same socket, and the bed records the new pid as its own, so `make
    beds-stop` still stops it); ovs-vswitchd reconnects by itself."""
    with open(OVSDB_PIDFILE) as handle:
        pid = int(handle.read().strip())
    try:
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while os.path.exists("/proc/%d" % pid) and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(down)
    finally:
        # beds.py start rewrites the beds' env files from its own environment, which ansible-test has
        # stripped of the beds' port settings: keep them as they were
        beds_dir = os.environ["NOVAOPS_BEDS_DIR"]
        kept = {}
        for name in ("env.sh", "env.json"):
            with open(os.path.join(beds_dir, name), "rb") as handle:
                kept[name] = handle.read()
        try:
            subprocess.run([sys.executable, os.path.join(repo_root(), "tools", "beds", "beds.py"), "start", "ovs"],
                           check=True, capture_output=True)     # returns once ovs-vsctl answers
        finally:
            for name, content in kept.items():
                with open(os.path.join(beds_dir, name), "wb") as handle:
                    handle.write(content)
    return "ovsdb-server %d SIGKILLed, started again after %.1fs" % (pid, down)

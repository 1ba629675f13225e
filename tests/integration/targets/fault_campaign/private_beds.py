# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A Glance and an sshd of the campaign's own, started by tools/beds/beds.py in a directory of its own.

The campaign kills them mid-step; the shared beds, which every other target uses, are never touched.
kill() is SIGKILL to the server and everything it forked (uwsgi workers, sshd's per-connection
processes, which sit in sessions of their own), as a crash or an OOM kill would leave it.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

from campaign import repo_root

sys.path.insert(0, os.path.join(repo_root(), "tools", "beds"))
# its notion of a live process (zombies excluded)
import beds  # noqa: E402 pylint: disable=wrong-import-position


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def descendants(pid):
    """pid and every process below it, children first."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/stat" % entry) as handle:
                    ppid = int(handle.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    found = []

    def walk(p):
        for child in children.get(p, []):
            walk(child)
        found.append(p)
    walk(pid)
    return found


class PrivateBeds:
    """beds.py start <names> with NOVAOPS_BEDS_DIR=<root>/beds and free ports; env() is what to point runs at."""

    def __init__(self, root, names=("glance", "sshd")):
        self.dir = os.path.join(root, "beds")
        self.names = list(names)
        self.environ = dict(os.environ, NOVAOPS_BEDS_DIR=self.dir, NOVAOPS_GLANCE_PORT=str(free_port()),
                            NOVAOPS_SSHD_PORT=str(free_port()))
        self.start(*self.names)

    def _beds(self, *argv):
        tool = os.path.join(repo_root(), "tools", "beds", "beds.py")
        proc = subprocess.run([sys.executable, tool] + list(argv), env=self.environ, capture_output=True,
                              text=True, check=False)
        if proc.returncode:
            raise RuntimeError("beds.py %s: %s%s" % (" ".join(argv), proc.stdout, proc.stderr))
        return proc.stdout

    def start(self, *names):
        self._beds("start", *names)

    def env(self):
        """NOVAOPS_GLANCE_URL, OS_IMAGE_URL, NOVAOPS_SSH_* of the private beds (nothing of the other beds)."""
        with open(os.path.join(self.dir, "env.json")) as handle:
            values = json.load(handle)
        return dict((k, v) for k, v in values.items() if k.startswith(("NOVAOPS_GLANCE", "OS_IMAGE", "NOVAOPS_SSH")))

    def pids(self, name):
        try:
            with open(os.path.join(self.dir, name, "owned.json")) as handle:
                return [item["pid"] for item in json.load(handle)]
        except (OSError, ValueError):
            return []

    def kill(self, name):
        """SIGKILL bed <name> and all it forked; returns how many processes died."""
        victims = [p for pid in self.pids(name) for p in descendants(pid)]
        for pid in victims:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 10
        while any(beds._alive(p) for p in victims) and time.monotonic() < deadline:  # pylint: disable=protected-access
            time.sleep(0.05)
        return len(victims)

    def stop(self):
        self._beds("stop", *self.names)

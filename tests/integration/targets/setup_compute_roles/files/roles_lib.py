# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Run the collection's playbooks as a user does, and check what they did (the roles targets, `make demo`).

Playbooks run with ``ansible-playbook -i <inventory> novaops.compute.<name>`` and the JSON
callback, so that a run's changed count and failure messages can be asserted; each run's
output is kept as ``<log dir>/<n>-<name>.json``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOOL = os.path.join(HERE, "instance_disk.py")


class Run:
    """One ansible-playbook run: rc, seconds, per-host stats, changed count, failure messages."""

    def __init__(self, name, rc, seconds, output, log, plain=False):
        self.name, self.rc, self.seconds, self.log = name, rc, seconds, log
        self.text = output if plain else ""      # what an operator sees at the default verbosity
        try:
            data = {} if plain else json.loads(output[output.index("{"):])
        except ValueError:
            data = {}
        self.stats = data.get("stats", {})
        self.changed = sum(host.get("changed", 0) for host in self.stats.values())
        if plain:
            self.changed = sum(int(n) for n in re.findall(r"\bchanged=(\d+)", output))
        self.failed = rc != 0
        self.messages = []
        for play in data.get("plays", []):
            for task in play.get("tasks", []):
                for result in task.get("hosts", {}).values():
                    if result.get("failed") and not result.get("ignore_errors"):
                        # a loop's task says only "One or more items failed": its items say what
                        items = [str(item.get("msg", "")) for item in result.get("results", [])
                                 if isinstance(item, dict) and item.get("failed")]
                        self.messages += items or [str(result.get("msg", ""))]
        self.msg = " | ".join(self.messages)

    def __repr__(self):
        return "<%s rc=%d changed=%d %.1fs %s>" % (self.name, self.rc, self.changed, self.seconds, self.msg[:200])


class Playbooks:
    """Runs novaops.compute.<playbook> against an inventory."""

    def __init__(self, inventory, log_dir, env=None):
        self.inventory = inventory
        self.log_dir = log_dir
        self.env = dict(env or os.environ)
        self.env.update(ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json", ANSIBLE_NOCOLOR="1")
        self.env.pop("ANSIBLE_PLAYBOOK_DIR", None)
        self.count = 0
        os.makedirs(log_dir, exist_ok=True)

    def run(self, playbook, *args, check=False, extra=None, plain=False):
        """``plain``: with the default callback, as an operator sees it (Run.text), not as JSON."""
        self.count += 1
        argv = ["ansible-playbook", "-i", self.inventory,
                playbook if "/" in playbook else "novaops.compute.%s" % playbook]
        if check:
            argv.append("--check")
        if extra:
            argv += ["-e", json.dumps(extra)]
        argv += list(args)
        started = time.monotonic()
        env = dict(self.env, ANSIBLE_STDOUT_CALLBACK="ansible.builtin.default") if plain else self.env
        proc = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
        seconds = time.monotonic() - started
        log = os.path.join(self.log_dir, "%02d-%s.json" % (self.count, os.path.basename(playbook)))
        with open(log, "w") as handle:
            handle.write(proc.stdout)
            if proc.stderr:
                handle.write("\n--- stderr\n" + proc.stderr)
        return Run(playbook, proc.returncode, seconds, proc.stdout, log, plain)


def disk(*args):
    """instance_disk.py <args> -> its JSON answer."""
    proc = subprocess.run([sys.executable, TOOL] + [str(a) for a in args], capture_output=True, text=True,
                          check=False)
    if proc.returncode:
        raise RuntimeError("instance_disk.py %s failed: %s" % (" ".join(map(str, args)), proc.stderr[-2000:]))
    return json.loads(proc.stdout)


class Checks:
    """ok/FAIL lines as the test goes, and the failures at the end."""

    def __init__(self):
        self.failures = []
        self.count = 0

    def __call__(self, condition, what, detail=None):
        self.count += 1
        print("%s %s" % ("ok  " if condition else "FAIL", what), flush=True)
        if not condition:
            if detail is not None:
                print("     %s" % (detail,), flush=True)
            self.failures.append(what)
        return condition

    def run_ok(self, run, what, changed=None):
        """A run that succeeded, with changed > 0 (True), == 0 (False) or anything (None)."""
        ok = not run.failed and (changed is None or (run.changed > 0) == changed)
        return self(ok, "%s (rc %d, changed %d, %.1fs)" % (what, run.rc, run.changed, run.seconds),
                    None if ok else "%s; log %s" % (run.msg[:1500], run.log))

    def shown(self, run, what, text):
        """A run whose output at the default verbosity shows ``text``."""
        return self(text in run.text, "%s shows %r at the default verbosity (rc %d)" % (what, text, run.rc),
                    None if text in run.text else "log %s" % run.log)

    def run_failed(self, run, what, message):
        ok = run.failed and message in run.msg
        return self(ok, "%s fails clearly: %r" % (what, message), None if ok else "%r; log %s" % (run, run.log))

    def exit(self):
        listed = "".join("\n  FAIL " + f for f in self.failures)
        print("\n%d checks, %d failed%s" % (self.count, len(self.failures), listed), flush=True)
        sys.exit(1 if self.failures else 0)


def write_inventory(path, hosts, group_vars=None):
    """An inventory of instances (JSON is YAML), running the modules on this machine."""
    base = dict(ansible_connection="local", ansible_python_interpreter=sys.executable)
    base.update(group_vars or {})
    with open(path, "w") as handle:
        json.dump(dict(all=dict(vars=base, hosts=hosts)), handle, indent=1)
    return path

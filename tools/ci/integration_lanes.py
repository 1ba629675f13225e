"""Run the integration targets in lanes: several ``ansible-test integration`` at once.

Much of an integration target is waiting (on QEMU, xapi, Glance, a guest that boots), so two
targets that use different things can run side by side.  Each lane runs ansible-test in a copy
of the collection tree of its own (ansible-test keeps its output under the tree), one target
list each; the lanes of a phase run at once, the phases one after the other.

What may not run beside what is said in the targets' aliases:
- ``lane/stops-ovsdb``: the target kills the shared ovsdb-server for a moment (the fault
  campaign's libvirt half).  It runs in a phase of its own lanes, beside only targets marked
- ``lane/no-ovsdb``: the target never talks to OVSDB, not even through libvirt.
- Lanes never share a XenAPI simulator pool: lane n talks to the beds' n-th pair (its
  integration config renames NOVAOPS_LANE<n>_XENAPI_*), so one target's pool-wide fault or
  count never meets another lane's calls.  The other beds are shared.
- Targets that need the same stateful set-up target (``needs/target/setup_*`` other than the
  ones that only carry files, FILE_ONLY_SETUPS) share its names (a bridge, veths): one lane.

Lanes are filled longest first from the weights in integration_weights.json (seconds from an
earlier run; a target not listed there counts DEFAULT_WEIGHT).  The per-target times, with the
lane and the phases' wall-clock times, are printed at the end, also when a target failed; then,
last of all (what a CI summary that keeps only the end of the output still shows), each failed
target with the lines of its output that say why.  Each lane's whole output is also kept in
<build>-lane<n>/phase<k>.log.

    integration_lanes.py <collection root> <lanes> [--only=<target>,...] [ansible-test arguments...]
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time

try:
    from ci import integration_config, integration_times      # as the unit tests import them (tools/ on the path)
except ImportError:
    import integration_config
    import integration_times

WEIGHTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "integration_weights.json")
DEFAULT_WEIGHT = 120
FILE_ONLY_SETUPS = ("setup_compute_roles", "connection_faults", "fault_campaign")
STOPS_OVSDB = "lane/stops-ovsdb"
NO_OVSDB = "lane/no-ovsdb"
# ansible-test's line as a target starts ("Running <target> integration test role|script")
TARGET_START = re.compile(r"^Running (\S+) integration test ")
# lines that say why a target failed: ansible's, pytest's, the corpus' and campaign's own verdicts
WHY = re.compile(r"fatal:|FAILED|FAIL\b|failed:|Traceback|Error|ERROR|assert|^E ")
WHY_LINES = 10
TAIL_LINES = 5


def aliases(collection_root, target):
    path = os.path.join(collection_root, "tests", "integration", "targets", target, "aliases")
    with open(path) as handle:
        return {line.strip() for line in handle if line.strip() and not line.startswith("#")}


def list_targets(collection_root, ansible_test):
    done = subprocess.run([ansible_test, "integration", "--list-targets"], cwd=collection_root,
                          capture_output=True, text=True, check=True)
    return [line.strip() for line in done.stdout.splitlines() if line.strip() and not line.startswith("WARNING")]


def groups(targets, tags):
    """Targets that must share a lane, as lists: those that need the same stateful set-up."""
    by_setup = {}
    for target in targets:
        setups = sorted(tag.split("/", 2)[2] for tag in tags[target] if tag.startswith("needs/target/setup_")
                        and tag.split("/", 2)[2] not in FILE_ONLY_SETUPS)
        key = setups[0] if setups else target
        by_setup.setdefault(key, []).append(target)
    return list(by_setup.values())


def fill(units, lanes, weight):
    """Longest first into the lane that is lightest so far; units are lists of targets."""
    loads = [[0, []] for _lane in range(lanes)]
    for unit in sorted(units, key=lambda u: (-sum(weight(t) for t in u), u)):
        lightest = min(loads, key=lambda load: load[0])
        lightest[0] += sum(weight(t) for t in unit)
        lightest[1].extend(unit)
    return [targets for _load, targets in loads if targets]


def plan(targets, tags, lanes, weight):
    """[phase, ...], a phase being [lane targets, ...].

    The targets that stop the shared ovsdb run first, in one lane, beside no-ovsdb targets only,
    taken longest first while the other lanes stay no longer than that one; the rest fill the
    lanes of the main phase.
    """
    stoppers = [t for t in targets if STOPS_OVSDB in tags[t]]
    rest = [t for t in targets if t not in stoppers]
    phases = []
    if stoppers:
        quiet = sorted((t for t in rest if NO_OVSDB in tags[t]), key=lambda t: (-weight(t), t))
        budget = sum(weight(t) for t in stoppers) * (lanes - 1)
        beside = []
        for target in quiet:
            if sum(weight(t) for t in beside) + weight(target) <= budget:
                beside.append(target)
        rest = [t for t in rest if t not in beside]
        phases.append([stoppers] + (fill([[t] for t in beside], lanes - 1, weight) if beside else []))
    if rest:
        phases.append(fill(groups(rest, tags), lanes, weight))
    return phases


def lane_tree(collection_root, number):
    """A copy of the collection tree for lane ``number``, at <build>-lane<n>/ansible_collections/...,
    with the integration config of its lane (its own pair of XenAPI simulator pools)."""
    build = os.path.dirname(os.path.dirname(os.path.dirname(collection_root)))
    lane_build = "%s-lane%d" % (build, number)
    tree = os.path.join(lane_build, "ansible_collections", "novaops", "compute")
    os.makedirs(tree, exist_ok=True)
    subprocess.run(["rsync", "-a", "--delete", "--exclude=tests/output", collection_root + "/", tree + "/"], check=True)
    shutil.rmtree(os.path.join(tree, "tests", "output"), ignore_errors=True)
    config = os.path.join(tree, "tests", "integration", "integration_config.yml")
    if os.path.exists(config):
        with open(config) as handle:
            beds_dir = json.load(handle)["beds_dir"]
        integration_config.main(beds_dir, tree, number)
    return lane_build, tree


class Lane(threading.Thread):
    """One ansible-test run over ``targets`` in its own tree; its lines go out prefixed."""

    lock = threading.Lock()

    def __init__(self, number, targets, collection_root, ansible_test, extra_args, phase=1):
        super().__init__(daemon=True)
        self.number, self.targets = number, targets
        self.lines = {}           # target -> its output lines, for the failure summary
        self.build, self.tree = lane_tree(collection_root, number)
        self.log = os.path.join(self.build, "phase%d.log" % phase)
        # every target of the lane runs, also after one failed: one run shows all there is to fix
        self.argv = ([ansible_test, "integration", "--python", "3.11", "--color", "no", "--continue-on-error"]
                     + list(extra_args) + targets)
        self.status = None
        self.started = None

    def run(self):
        env = dict(os.environ)
        paths = [p for p in env.get("ANSIBLE_COLLECTIONS_PATH", "").split(":") if p]
        env["ANSIBLE_COLLECTIONS_PATH"] = ":".join([self.build] + paths[1:])
        self.started = time.time() - 1
        prefix = "[lane %d] " % self.number
        current = None
        with open(self.log, "w") as log, \
                subprocess.Popen(self.argv, cwd=self.tree, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 text=True, errors="replace", bufsize=1) as proc:
            for line in proc.stdout:
                log.write(line)
                started = TARGET_START.match(line)
                current = started.group(1) if started else current
                self.lines.setdefault(current, []).append(line.rstrip("\n"))
                with self.lock:
                    sys.stdout.write(prefix + line)
                    sys.stdout.flush()
            self.status = proc.wait()

    def times(self):
        path = integration_times.newest_results(self.tree, self.started or 0.0)
        return integration_times.times(path) if path else []


def why_failed(lines):
    """The lines of a failed target's output that say why, and its last lines, without repeats."""
    why = [line for line in lines if WHY.search(line)][-WHY_LINES:]
    tail = [line for line in lines[-TAIL_LINES:] if line not in why]
    return why + tail


def failure_summary(failed):
    """failed: [(lane, [target, ...])]: what to print last, for each target that did not pass."""
    out = []
    for lane, targets in failed:
        for target in targets:
            out.append("FAILED %s (lane %d; its whole output: %s):" % (target, lane.number, lane.log))
            out.extend("    " + line[:300] for line in why_failed(lane.lines.get(target, [])))
    names = [target for _lane, targets in failed for target in targets]
    if names:
        out.append("integration failed: %s" % " ".join(names))
    return out


def load_weights():
    try:
        with open(WEIGHTS) as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return {}


def main(argv):
    if len(argv) < 2:
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    collection_root, lanes, extra = os.path.abspath(argv[0]), max(1, int(argv[1])), list(argv[2:])
    ansible_test = shutil.which("ansible-test") or "ansible-test"
    targets = list_targets(collection_root, ansible_test)
    if extra and extra[0].startswith("--only="):      # a trial of the lanes on a few targets
        only = extra.pop(0).split("=", 1)[1].split(",")
        targets = [t for t in targets if t in only]
    tags = {t: aliases(collection_root, t) for t in targets}
    weights = load_weights()
    phases = plan(targets, tags, lanes, lambda t: weights.get(t, DEFAULT_WEIGHT))
    rows, walls, status, failed = [], [], 0, []
    for index, phase in enumerate(phases, 1):
        print("integration phase %d: %s" % (index, " | ".join(" ".join(targets) for targets in phase)), flush=True)
        started = time.monotonic()
        running = [Lane(number, targets, collection_root, ansible_test, extra, phase=index)
                   for number, targets in enumerate(phase, 1)]
        for lane in running:
            lane.start()
        for lane in running:
            lane.join()
            passed = lane.times()
            rows.extend((name, seconds, lane.number) for name, seconds in passed)
            if lane.status:
                status = lane.status
                print("[lane %d] failed (rc %d); its targets: %s" % (lane.number, lane.status, " ".join(lane.targets)))
                ran = set(name for name, _seconds in passed)
                # a lane that failed before any target (ansible-test itself) is told with all its targets
                failed.append((lane, [t for t in lane.targets if t not in ran] or list(lane.targets)))
        walls.append(time.monotonic() - started)
    print("integration times (a failed target is not listed):")
    print(integration_times.table([(name, seconds) for name, seconds, _lane in
                                   sorted(rows, key=lambda r: (-r[1], r[0]))], lanes={n: l for n, _s, l in rows}))
    print("wall clock: %s = %.1f min on %d lane(s)" % (" + ".join("phase %d %.0f s" % (i, w) for i, w in enumerate(walls, 1)),
                                                      sum(walls) / 60.0, lanes))
    for line in failure_summary(failed):
        print(line)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Print how long each integration target took, slowest first, with the total.

ansible-test writes tests/output/data/integration-<time>.json into the collection tree at the
end of `ansible-test integration`, also when a target failed (the failed target itself has no
time: only passed targets are recorded).  The Makefile's integration recipe calls this after
ansible-test, with the marker it touched before, so that only this run's file is read.

    integration_times.py <collection root> [<marker file>]
"""

import glob
import json
import os
import sys


def newest_results(collection_root, since=0.0):
    paths = [path for path in glob.glob(os.path.join(collection_root, "tests", "output", "data", "integration-*.json"))
             if os.path.getmtime(path) >= since]
    return max(paths, key=os.path.getmtime) if paths else None


def times(path):
    with open(path) as handle:
        targets = json.load(handle).get("targets") or {}
    return sorted(((name, int(target.get("run_time_seconds", 0))) for name, target in targets.items()),
                  key=lambda item: (-item[1], item[0]))


def table(rows, lanes=None):
    """rows: [(target, seconds)]; lanes: {target: lane number}, when the targets ran in lanes."""
    width = max([len(name) for name, _seconds in rows] + [len("total")])
    lanes = lanes or {}
    lines = ["%-*s %6d s%s" % (width, name, seconds, "  lane %d" % lanes[name] if name in lanes else "")
             for name, seconds in rows]
    lines.append("%-*s %6d s  (%d targets; %.1f min)" % (width, "total", sum(s for _n, s in rows), len(rows),
                                                         sum(s for _n, s in rows) / 60.0))
    return "\n".join(lines)


def main(argv):
    if not argv:
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    since = os.path.getmtime(argv[1]) if len(argv) > 1 and os.path.exists(argv[1]) else 0.0
    path = newest_results(argv[0], since)
    if path is None:
        print("integration times: ansible-test wrote no results in this run")
        return 0
    print("integration times (%s; a failed target is not listed):" % os.path.basename(path))
    print(table(times(path)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

#!/usr/bin/env python3
"""How soon xen_snapshot moves on after the storage GC has coalesced, against Nova's 5 s polling.

After ``VDI.snapshot`` xen_snapshot waits until the leaf's parent is the original parent again
(module_utils/xenapi/snapshot.wait_for_coalesce, on event.from).  On a private simulator
(this checkout's tools/xapisim, so nobody else's snapshots are in its GC) each of SNAPSHOTS
snapshots is taken with its own GC delay, spread evenly over 0.5-5 s; the simulator records
when each coalesce finished (``sim.gc_history``: the moment the chain is whole again), the
bench when wait_for_coalesce returned.  The lag is the difference.  Nova checked the parent
right after the snapshot and then every 5 s (vhd_coalesce_poll_interval): its lag for the
same finish times is the time to its next check.

Prints ``RATIO xen_snapshot coalesce wait lag, median|p95: <seconds>`` (target: under 1 s),
each with Nova's lag for the same coalesces beside it.

Standalone: ``python3 bench/xen_snapshot_coalesce.py`` (the project's venv python).
"""

import math
import os
import shutil
import statistics
import sys
import tempfile
import time

from operation_lock import PASSWORD, PREFIX, Sim, collection

SNAPSHOTS = int(os.environ.get("COALESCE_BENCH_SNAPSHOTS", "10"))
NOVA_POLL = 5.0
MIB = 1024 * 1024


def delays(count):
    return [round(0.5 + 4.5 * i / max(count - 1, 1), 2) for i in range(count)]


def p95(values):
    """Nearest-rank 95th percentile."""
    ranked = sorted(values)
    return ranked[max(0, math.ceil(0.95 * len(ranked)) - 1)]


def fresh_leaf(conn, sr, name):
    """A VDI with a parent (its first snapshot deleted, the GC done): (ref, original chain of uuids)."""
    vdi = conn.call("VDI.create", {"name_label": name, "name_description": "", "SR": sr,
                                   "virtual_size": str(8 * MIB), "type": "user", "sharable": False,
                                   "read_only": False, "other_config": {}})
    conn.call("VDI.destroy", conn.call("VDI.snapshot", vdi, {}))
    return vdi


def measure(sim, conn, snapshot_mod, sr, delay, index):
    sim.sim("gc_delay", "", 0.0)
    leaf = fresh_leaf(conn, sr, "%s-%d" % (PREFIX, index))
    if not sim.sim("gc_wait", 60.0):
        raise SystemExit("the simulator's GC did not finish the set-up")
    leaf_uuid = conn.call("VDI.get_uuid", leaf)
    parent = conn.call("VDI.get_sm_config", leaf)["vhd-parent"]
    sim.sim("gc_delay", "", delay)
    snap = conn.call("VDI.snapshot", leaf, {})
    started = time.time()
    found = snapshot_mod.wait_for_coalesce(conn, leaf, [leaf_uuid, parent], sr, 60)
    moved_on = time.time()
    finished = [h["finished_at"] for h in sim.sim("gc_history")
                if h["parent"] == parent and leaf_uuid in h["children"]]
    if found.get("reason") != "coalesced" or len(finished) != 1:
        raise SystemExit("snapshot %d: no coalesce recorded (%s)" % (index, found))
    conn.call("VDI.destroy", snap)
    conn.call("VDI.destroy", leaf)
    after = finished[0] - started
    nova_check = math.ceil(max(after, 0.0) / NOVA_POLL) * NOVA_POLL
    return moved_on - finished[0], nova_check - after


def main():
    workdir = tempfile.mkdtemp(prefix=PREFIX + "-coalesce-")
    sim = None
    try:
        collection(workdir)
        from ansible_collections.novaops.compute.plugins.module_utils.xenapi import snapshot as snapshot_mod
        from ansible_collections.novaops.compute.plugins.module_utils.xenapi.session import XenAPIConnection
        sim = Sim(workdir)
        with XenAPIConnection(sim.url, "root", PASSWORD) as conn:
            sr = conn.call("pool.get_default_SR", conn.call("pool.get_all")[0])
            ours, nova = [], []
            for index, delay in enumerate(delays(SNAPSHOTS)):
                lag, nova_lag = measure(sim, conn, snapshot_mod, sr, delay, index)
                ours.append(lag)
                nova.append(nova_lag)
                print("GC delay %.1fs: xen_snapshot moved on %.3fs after the coalesce finished (Nova's poll: %.2fs)"
                      % (delay, lag, nova_lag), flush=True)
        for what, ours_value, nova_value in (("median", statistics.median(ours), statistics.median(nova)),
                                             ("p95", p95(ours), p95(nova))):
            print("RATIO xen_snapshot coalesce wait lag, %s: %.3fs (after the GC finished; %d snapshots, GC delays "
                  "0.5-5 s; Nova's 5 s polling: %.2fs; target < 1 s)" % (what, ours_value, len(ours), nova_value))
    finally:
        if sim is not None:
            sim.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

"""The storage garbage collector, after SM's cleanup.py on a file SR.

A hidden VHD X whose parent P has X as its ONLY child is coalesced: X's own sectors are
written into P, X's children are re-parented onto P, X's file and VDI record go.  A hidden
VHD with no children at all is garbage and is deleted.  Each candidate waits ``delay``
seconds (per SR: ``sim.gc_delay(sr_uuid, s)``, or SR other_config ``xapisim-gc-delay``,
else the server's --gc-delay) from the moment it is first seen.  ``sim.gc_stall(true)``
freezes the GC; so does a disk transfer in progress (``hold()``), as SM's GC waits while a
VDI of the SR is attached for an HTTP import or export.
"""

import contextlib
import logging
import os
import threading
import time

from .vhd import VHD, VHDError, coalesce

log = logging.getLogger("xapisim.gc")


class GC:
    def __init__(self, sim):
        self.sim = sim
        self.stalled = False
        self.holds = 0            # transfers in progress: no coalesce under a reader or writer
        self.delays = {}
        self.seen = {}            # vdi uuid -> first time seen as a candidate
        self.wake = threading.Event()
        self.stopped = False
        self.idle = threading.Event()
        self.thread = None
        self.last_error = None
        self.history = []         # coalesces done: {vdi, parent, child, finished_at} (wall clock)

    def start(self):
        self.thread = threading.Thread(target=self._run, name="gc", daemon=True)
        self.thread.start()

    def stop(self):
        self.stopped = True
        self.wake.set()
        if self.thread:
            self.thread.join(timeout=10)

    def kick(self):
        self.wake.set()

    @contextlib.contextmanager
    def hold(self):
        with self.sim.store.lock:
            self.holds += 1
        try:
            yield
        finally:
            with self.sim.store.lock:
                self.holds -= 1
            self.kick()

    def reset(self):
        self.stalled = False
        self.delays = {}
        self.seen = {}
        self.history = []

    def set_delay(self, sr_uuid, seconds):
        self.delays[sr_uuid or "*"] = float(seconds)
        self.kick()

    def delay_for(self, sr_ref):
        st = self.sim.store
        sr = st.get("SR", sr_ref)
        if sr["uuid"] in self.delays:
            return self.delays[sr["uuid"]]
        oc = sr["other_config"].get("xapisim-gc-delay")
        if oc:
            try:
                return float(oc)
            except ValueError:
                pass
        if "*" in self.delays:
            return self.delays["*"]
        return float(self.sim.config.gc_delay)

    # --------------------------------------------------------------- the work
    def candidates(self):
        """[(kind, vdi_ref)] with kind 'coalesce' or 'garbage'."""
        st = self.sim.store
        out = []
        by_uuid = {}
        kids = {}
        for r, o in st.objs["VDI"].items():
            if o["SR"] not in st.objs["SR"] or st.get("SR", o["SR"])["type"] != "ext":
                continue
            by_uuid[(o["SR"], o["uuid"])] = r
            p = o["sm_config"].get("vhd-parent")
            if p:
                kids.setdefault((o["SR"], p), []).append(r)
        for (sr, u), r in by_uuid.items():
            o = st.objs["VDI"][r]
            if o["managed"]:
                continue
            mine = kids.get((sr, u), [])
            if not mine:
                out.append(("garbage", r))
                continue
            p = o["sm_config"].get("vhd-parent")
            if p and (sr, p) in by_uuid and len(kids.get((sr, p), [])) == 1:
                out.append(("coalesce", r))
        return out

    def step(self):
        """One pass; returns True if work remains (waiting for its delay)."""
        st = self.sim.store
        pending = False
        with st.lock:
            if self.stalled or self.holds:
                return bool(self.candidates())
            now = time.time()
            cands = self.candidates()
            live = {st.objs["VDI"][r]["uuid"] for _, r in cands}
            for u in list(self.seen):
                if u not in live:
                    del self.seen[u]
            for kind, r in cands:
                if r not in st.objs["VDI"]:
                    continue
                o = st.objs["VDI"][r]
                first = self.seen.setdefault(o["uuid"], now)
                if now - first < self.delay_for(o["SR"]):
                    pending = True
                    continue
                try:
                    if kind == "garbage":
                        self.sim.storage.drop_vdi(r)
                    else:
                        self._coalesce(r)
                    self.seen.pop(o["uuid"], None)
                    pending = True        # look again: the chain changed
                except (VHDError, OSError) as e:
                    self.last_error = "%s: %s" % (o["uuid"], e)
                    log.error("gc %s %s failed: %s", kind, o["uuid"], e)
                break
        return pending

    def _path(self, r):
        return self.sim.storage.vdi_path(r)

    def _coalesce(self, r):
        st = self.sim.store
        o = st.objs["VDI"][r]
        sr = o["SR"]
        parent_u = o["sm_config"]["vhd-parent"]
        parent = next(x for x, p in st.objs["VDI"].items() if p["SR"] == sr and p["uuid"] == parent_u)
        child_path = self._path(r)
        parent_path = self._path(parent)
        coalesce(child_path)
        children = [x for x, c in st.objs["VDI"].items()
                    if c["SR"] == sr and c["sm_config"].get("vhd-parent") == o["uuid"]]
        for k in children:
            with VHD.open(self._path(k), writable=True) as v:
                v.set_parent(parent_path)
            sm = dict(st.objs["VDI"][k]["sm_config"])
            sm["vhd-parent"] = parent_u
            st.update("VDI", k, sm_config=sm)
        os.unlink(child_path)
        st.delete("VDI", r)
        with VHD.open(parent_path) as v:
            vs = v.virtual_size
        if st.objs["VDI"][parent]["virtual_size"] != vs:
            st.update("VDI", parent, virtual_size=vs)
        else:
            st.touch("VDI", parent)
        st.touch("SR", sr)
        # when the chain was whole again (the store's lock is held: readers see it from now on)
        self.history.append(dict(vdi=o["uuid"], parent=parent_u, finished_at=time.time(),
                                 children=[st.objs["VDI"][k]["uuid"] for k in children]))

    def _run(self):
        while not self.stopped:
            try:
                pending = self.step()
            except Exception:     # noqa: BLE001 - keep the GC alive
                log.exception("gc pass")
                pending = True
            if pending:
                self.idle.clear()
            else:
                self.idle.set()
            self.wake.wait(0.1 if pending else 1.0)
            self.wake.clear()

    def wait_idle(self, timeout):
        """True once no candidate remains (a stalled GC with candidates never gets there)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self.sim.store.lock:
                if not self.candidates():
                    return True
            time.sleep(0.05)
        return False

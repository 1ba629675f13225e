"""Faults on demand, call counters, and the ``sim`` control class.

Every ``sim.*`` method is reachable two ways:

* as a XenAPI call: ``session.xenapi.sim.fault_add("VM.start", ["VM_BAD_POWER_STATE", ...], 1, 1)``
  (the SDK sends the session first, as for any call);
* as plain JSON: ``POST /sim/fault_add`` with body ``["VM.start", [...], 1, 1]``, answer
  ``{"Status": "Success", "Value": ...}``.
"""

import collections
import itertools
import threading
import time

from .api import Method, coerce
from .errors import XenAPIError


class Faults:
    def __init__(self):
        self.lock = threading.Lock()
        self.rules = []             # dicts: id, method, desc, nth, count, seen, fired
        self.delays = {}
        self.expiries = []          # dicts: id, method, nth, seen, fired (session_expire_on)
        self.counters = collections.Counter()
        self.ids = itertools.count(1)

    def count(self, name):
        with self.lock:
            self.counters[name] += 1

    def add(self, method, desc, nth, count):
        if not desc:
            raise XenAPIError("FIELD_TYPE_ERROR", "error_description_list")
        with self.lock:
            rid = next(self.ids)
            self.rules.append({"id": rid, "method": method, "desc": [str(d) for d in desc],
                               "nth": max(1, int(nth)), "count": int(count), "seen": 0, "fired": 0})
            return str(rid)

    def clear(self):
        with self.lock:
            self.rules = []
            self.delays = {}
            self.expiries = []

    def add_expiry(self, method, nth):
        with self.lock:
            rid = next(self.ids)
            self.expiries.append({"id": rid, "method": method, "nth": max(1, int(nth)), "seen": 0, "fired": 0})
            return str(rid)

    def session_expires(self, method):
        """Whether the caller's session is to expire before this call of ``method`` (wire name).

        Checked before the session is: the call then meets SESSION_INVALID [handle] as a call
        with a timed-out session does on xapi, and nothing of it runs.
        """
        with self.lock:
            for r in self.expiries:
                if r["method"] != method or r["fired"]:
                    continue
                r["seen"] += 1
                if r["seen"] >= r["nth"]:
                    r["fired"] = 1
                    return True
        return False

    def before(self, method, ctx=None):
        """Called when a method is about to run (sync, or inside its Async task)."""
        delay = self.delays.get(method)
        if delay:
            time.sleep(delay)
        if ctx is not None and ctx.task is not None:
            st = ctx.sim.store
            with st.lock:
                if st.exists("task", ctx.task) and st.get("task", ctx.task)["status"] == "cancelling":
                    raise XenAPIError("TASK_CANCELLED", ctx.task)
        fire = None
        with self.lock:
            for r in self.rules:
                if r["method"] != method:
                    continue
                r["seen"] += 1
                if fire is None and r["seen"] >= r["nth"] and (r["count"] <= 0 or r["fired"] < r["count"]):
                    r["fired"] += 1
                    fire = r["desc"]
        if fire is not None:
            raise XenAPIError(*fire)

    def snapshot(self):
        with self.lock:
            return [{"id": str(r["id"]), "method": r["method"], "error": list(r["desc"]), "nth": r["nth"],
                     "count": r["count"], "seen": r["seen"], "fired": r["fired"]} for r in self.rules] + \
                [{"id": str(r["id"]), "method": r["method"], "error": ["SESSION_INVALID"], "nth": r["nth"],
                  "count": 1, "seen": r["seen"], "fired": r["fired"], "session_expiry": True}
                 for r in self.expiries]


def register(reg, sim):
    F = sim.faults

    def add(name, params, fn, locked=False):
        reg["sim." + name] = Method("sim." + name, fn, params, async_ok=False, locked=locked)

    add("fault_add", [("method", "s"), ("error_description_list", "set:s"), ("nth", "i"), ("count", "i")],
        lambda ctx, m, d, n, c: F.add(m, d, n, c))
    add("faults_clear", [], lambda ctx: (F.clear(), "")[1])
    add("faults", [], lambda ctx: F.snapshot())

    def delay(ctx, method, seconds):
        with F.lock:
            if seconds <= 0:
                F.delays.pop(method, None)
            else:
                F.delays[method] = seconds
        return ""
    add("delay", [("method", "s"), ("seconds", "f")], delay)
    add("expire_session", [("session_ref", "s")], lambda ctx, ref: sim.sessions.expire(ref))
    add("session_expire_on", [("method", "s"), ("nth", "i")], lambda ctx, m, n: F.add_expiry(m, n))

    def counters(ctx):
        with F.lock:
            return dict(F.counters)
    add("counters", [], counters)

    def counters_reset(ctx):
        with F.lock:
            F.counters.clear()
        return ""
    add("counters_reset", [], counters_reset)

    def gc_stall(ctx, on):
        sim.gc.stalled = bool(on)
        sim.gc.kick()
        return ""
    add("gc_stall", [("stall", "b")], gc_stall)

    def gc_delay(ctx, sr_uuid, seconds):
        sim.gc.set_delay(sr_uuid, seconds)
        return ""
    add("gc_delay", [("sr_uuid", "s"), ("seconds", "f")], gc_delay)
    add("gc_wait", [("timeout", "f")], lambda ctx, t: sim.gc.wait_idle(t))

    def gc_history(ctx):
        """The coalesces the GC has done: vdi (merged away), parent, children (now under parent) and
        finished_at (seconds since the epoch) - when a reader could first see the chain whole again."""
        with sim.store.lock:
            return [dict(h) for h in sim.gc.history]
    add("gc_history", [], gc_history)

    def guest_ignores_shutdown(ctx, vm_uuid, on):
        with sim.store.lock:
            sim.store.by_uuid("VM", vm_uuid)          # UUID_INVALID for an unknown VM
        if on:
            sim.ignore_shutdown.add(vm_uuid)
        else:
            sim.ignore_shutdown.discard(vm_uuid)
        return ""
    add("guest_ignores_shutdown", [("vm_uuid", "s"), ("ignore", "b")], guest_ignores_shutdown)
    add("shutdown_timeout", [("seconds", "f")],
        lambda ctx, s: (setattr(sim.config, "shutdown_timeout", s), "")[1])
    add("reset", [], lambda ctx: (sim.reset(), "")[1])
    add("info", [], lambda ctx: sim.ready_facts())
    add("flush", [], lambda ctx: (sim.persister.flush() if sim.persister else None, "")[1])


def sim_call(sim, name, args):
    """The /sim/<name> path: same functions, no session."""
    m = sim.registry.get("sim." + name)
    if m is None:
        raise XenAPIError("MESSAGE_METHOD_UNKNOWN", "sim." + name)
    if len(args) != len(m.params):
        raise XenAPIError("MESSAGE_PARAMETER_COUNT_MISMATCH", "sim." + name, str(len(m.params)), str(len(args)))
    args = [coerce(a, t, pn, None) for a, (pn, t) in zip(args, m.params)]
    from .api import Ctx
    return m.fn(Ctx(sim), *args)

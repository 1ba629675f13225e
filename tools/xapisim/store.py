"""The object store: typed objects per class, generic accessors, events, persistence.

One re-entrant lock guards everything; ``cond`` (on the same lock) is notified on
every change so that event.from waiters wake at once.
"""

import collections
import copy
import json
import os
import re
import threading
import time
import uuid as uuidlib

from .api import DT, Method
from .errors import XenAPIError
from .schema import CLASSES, GENERIC_CREATE, GENERIC_DESTROY, NULL, REV, VOLATILE, default_for, field_map


def new_ref():
    return "OpaqueRef:%s" % uuidlib.uuid4()


def _rev_targets():
    """(src_cls, src_field) -> [(target_cls, rev_field)]"""
    out = collections.defaultdict(list)
    for cls, flds in CLASSES.items():
        for f in flds:
            if len(f) == 5:
                out[(f[3], f[4])].append((cls, f[0]))
    return out


REV_TARGETS = _rev_targets()
FIELD_MAPS = {c: field_map(c) for c in CLASSES}


class Store:
    def __init__(self):
        self.lock = threading.RLock()
        self.cond = threading.Condition(self.lock)
        self.objs = {c: {} for c in CLASSES}
        self.meta = {}            # ref -> [cls, created_gen, modified_gen]
        self.tombs = collections.deque(maxlen=20000)   # (gen, cls, ref, created_gen, ts)
        self.gen = 0
        self.stamps = {}          # gen -> wall time, for event timestamps
        self.computed = {}        # (cls, field) -> fn(ref, obj) -> value
        self.on_change = []       # callbacks (no args) after every mutation
        self.dirty = False

    # ----------------------------------------------------------------- basics
    def exists(self, cls, ref):
        return ref in self.objs.get(cls, ())

    def class_of(self, ref):
        m = self.meta.get(ref)
        return m[0] if m else None

    def get(self, cls, ref):
        try:
            return self.objs[cls][ref]
        except KeyError:
            raise XenAPIError("HANDLE_INVALID", cls, ref)

    def all(self, cls):
        return list(self.objs[cls].keys())

    def items(self, cls):
        return list(self.objs[cls].items())

    def find(self, cls, **match):
        return [r for r, o in self.objs[cls].items() if all(o.get(k) == v for k, v in match.items())]

    def find_one(self, cls, **match):
        refs = self.find(cls, **match)
        return refs[0] if refs else None

    def by_uuid(self, cls, uuid):
        for r, o in self.objs[cls].items():
            if o.get("uuid") == uuid:
                return r
        raise XenAPIError("UUID_INVALID", cls, uuid)

    def _bump(self, ref=None, created=False):
        self.gen += 1
        self.stamps[self.gen] = time.time()
        if len(self.stamps) > 50000:
            for g in sorted(self.stamps)[:10000]:
                del self.stamps[g]
        if ref is not None:
            m = self.meta[ref]
            m[2] = self.gen
            if created:
                m[1] = self.gen
        self.dirty = True
        self.cond.notify_all()
        for cb in self.on_change:
            cb()

    def touch(self, cls, ref):
        if ref in self.objs.get(cls, ()):
            self._bump(ref)

    def _touch_targets(self, cls, obj, only=None):
        for fname, f in FIELD_MAPS[cls].items():
            if only is not None and fname not in only:
                continue
            for tcls, _rev in REV_TARGETS.get((cls, fname), ()):
                target = obj.get(fname)
                if target and target != NULL and target in self.objs[tcls]:
                    self._bump(target)

    # -------------------------------------------------------------- mutation
    def create(self, cls, values=None, ref=None):
        ref = ref or new_ref()
        obj = {}
        for f in CLASSES[cls]:
            if len(f) == 5:
                continue
            name, typ, default = f[0], f[1], f[2]
            obj[name] = copy.deepcopy(default) if default is not None else default_for(typ)
        if values:
            for k, v in values.items():
                if k in obj:
                    obj[k] = v
        if not obj.get("uuid"):
            obj["uuid"] = str(uuidlib.uuid4())
        self.objs[cls][ref] = obj
        self.meta[ref] = [cls, 0, 0]
        self._bump(ref, created=True)
        self._touch_targets(cls, obj)
        return ref

    def update(self, cls, ref, **changes):
        obj = self.get(cls, ref)
        old = {k: obj.get(k) for k in changes}
        obj.update(changes)
        self._bump(ref)
        # the old and new targets of changed reference fields see their reverse sets change
        self._touch_targets(cls, old, only=set(changes))
        self._touch_targets(cls, obj, only=set(changes))
        return obj

    def delete(self, cls, ref):
        obj = self.objs[cls].pop(ref, None)
        if obj is None:
            raise XenAPIError("HANDLE_INVALID", cls, ref)
        m = self.meta.pop(ref)
        self._bump()
        self.tombs.append((self.gen, cls, ref, m[1], time.time()))
        self._touch_targets(cls, obj)
        return obj

    # --------------------------------------------------------------- records
    def field_value(self, cls, ref, name):
        obj = self.get(cls, ref)
        f = FIELD_MAPS[cls].get(name)
        if f is None:
            raise KeyError(name)
        hook = self.computed.get((cls, name))
        if hook is not None:
            return hook(ref, obj)
        if len(f) == 5:
            src, sf = f[3], f[4]
            return [r for r, o in self.objs[src].items() if o.get(sf) == ref]
        v = obj[name]
        if f[1] == "dt":
            return DT(v)
        return copy.deepcopy(v)

    def record(self, cls, ref):
        self.get(cls, ref)
        return {f[0]: self.field_value(cls, ref, f[0]) for f in CLASSES[cls]}

    # ----------------------------------------------------------------- events
    def token(self):
        return "%020d,%020d" % (self.gen, 0)

    @staticmethod
    def parse_token(token):
        if token in ("", None):
            return 0
        try:
            return int(str(token).split(",")[0])
        except ValueError:
            raise XenAPIError("EVENT_FROM_TOKEN_PARSE_FAILURE", token)

    @staticmethod
    def parse_subs(classes):
        subs = []
        for c in classes:
            if c == "*":
                subs.append(("*", None))
                continue
            name, _, ref = c.partition("/")
            low = name.lower()
            if not any(k.lower() == low for k in CLASSES):
                # xapi accepts unknown classes silently (no events will match)
                pass
            subs.append((low, ref or None))
        return subs

    @staticmethod
    def _matches(subs, cls, ref):
        low = cls.lower()
        for c, r in subs:
            if c == "*" or (c == low and (r is None or r == ref)):
                return True
        return False

    def events_since(self, since, subs):
        evs = []
        for ref, (cls, cgen, mgen) in self.meta.items():
            if mgen > since and self._matches(subs, cls, ref):
                evs.append((mgen, cls, "add" if cgen > since else "mod", ref))
        for (dgen, cls, ref, cgen, _ts) in (self.tombs if since else ()):
            if dgen > since and self._matches(subs, cls, ref):
                evs.append((dgen, cls, "del", ref))
        evs.sort(key=lambda e: e[0])
        out = []
        for gen, cls, op, ref in evs:
            ts = self.stamps.get(gen, time.time())
            ev = {"id": gen, "timestamp": "%.6f" % ts, "class": cls.lower(), "operation": op, "ref": ref}
            if op != "del":
                ev["snapshot"] = self.record(cls, ref)
            out.append(ev)
        return out

    def valid_ref_counts(self, subs):
        out = {}
        for cls in CLASSES:
            if any(c == "*" or c == cls.lower() for c, _ in subs):
                out[cls.lower()] = len(self.objs[cls])
        return out

    # ------------------------------------------------------------ persistence
    def dump(self):
        return {
            "gen": self.gen,
            "objs": {c: o for c, o in self.objs.items() if c not in VOLATILE},
        }

    def load(self, data):
        self.objs = {c: {} for c in CLASSES}
        self.meta = {}
        self.tombs.clear()
        self.gen = int(data.get("gen", 0)) + 1
        for cls, objs in data.get("objs", {}).items():
            if cls not in CLASSES:
                continue
            for ref, obj in objs.items():
                # fill fields added to the schema since the file was written
                full = {}
                for f in CLASSES[cls]:
                    if len(f) == 5:
                        continue
                    full[f[0]] = obj.get(f[0], copy.deepcopy(f[2]) if f[2] is not None else default_for(f[1]))
                self.objs[cls][ref] = full
                self.meta[ref] = [cls, self.gen, self.gen]

    def clear(self):
        for c in self.objs:
            for ref in list(self.objs[c]):
                self.delete(c, ref)


class Persister:
    """Writes the store to <state-dir>/db.json atomically, at most every ``interval`` seconds."""

    def __init__(self, store, path, interval=0.2):
        self.store = store
        self.path = path
        self.interval = interval
        self.wake = threading.Event()
        self.stopped = False
        store.on_change.append(self.wake.set)
        self.thread = threading.Thread(target=self._run, name="persist", daemon=True)

    def start(self):
        self.thread.start()

    def _run(self):
        while not self.stopped:
            self.wake.wait()
            if self.stopped:
                break
            time.sleep(self.interval)
            self.wake.clear()
            self.flush()

    def flush(self):
        with self.store.lock:
            if not self.store.dirty:
                return
            data = json.dumps(self.store.dump(), sort_keys=True)
            self.store.dirty = False
        tmp = self.path + ".tmp"
        with open(tmp, "w") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)

    def stop(self):
        self.stopped = True
        self.wake.set()
        self.store.dirty = True
        self.flush()


# ------------------------------------------------------------ where-expressions
_TOKEN = re.compile(r'\s*(?:(\()|(\))|(<>|=)|"((?:[^"\\]|\\.)*)"|([A-Za-z_]+))')


def _tokenize(expr):
    pos, out = 0, []
    expr = expr.strip()
    while pos < len(expr):
        m = _TOKEN.match(expr, pos)
        if not m or m.end() == pos:
            raise XenAPIError("INTERNAL_ERROR", "cannot parse expression: %s" % expr)
        pos = m.end()
        if m.group(1):
            out.append(("(", None))
        elif m.group(2):
            out.append((")", None))
        elif m.group(3):
            out.append(("op", m.group(3)))
        elif m.group(4) is not None:
            out.append(("str", m.group(4).replace('\\"', '"')))
        else:
            out.append(("word", m.group(5).lower()))
    return out


def _strval(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def compile_where(expr):
    """A subset of xapi's expression language: field "f" = "v", <>, and, or, not, (), true, false."""
    toks = _tokenize(expr)
    pos = [0]

    def peek():
        return toks[pos[0]] if pos[0] < len(toks) else (None, None)

    def take():
        t = peek()
        pos[0] += 1
        return t

    def operand():
        kind, val = take()
        if kind == "word" and val == "field":
            k2, name = take()
            return ("field", name)
        if kind == "str":
            return ("lit", val)
        raise XenAPIError("INTERNAL_ERROR", "cannot parse expression: %s" % expr)

    def factor():
        kind, val = peek()
        if kind == "word" and val == "not":
            take()
            f = factor()
            return lambda o: not f(o)
        if kind == "(":
            take()
            e = disj()
            take()
            return e
        if kind == "word" and val in ("true", "false"):
            take()
            return lambda o, v=(val == "true"): v
        a = operand()
        _, op = take()
        b = operand()

        def ev(side, o):
            return _strval(o.get(side[1], "")) if side[0] == "field" else side[1]
        if op == "=":
            return lambda o: ev(a, o) == ev(b, o)
        return lambda o: ev(a, o) != ev(b, o)

    def joined(part, word, join):
        """A parser of ``part (word part)*``: the parts' predicates joined from the left by ``join``."""
        def parse():
            f = part()
            while peek() == ("word", word):
                take()
                f = join(f, part())
            return f
        return parse

    conj = joined(factor, "and", lambda f, g: lambda o: f(o) and g(o))
    disj = joined(conj, "or", lambda f, g: lambda o: f(o) or g(o))
    return disj()


# ------------------------------------------------------------ generic methods
def register_generic(reg, sim):
    store = sim.store
    for cls, flds in CLASSES.items():
        fm = FIELD_MAPS[cls]
        _register_class(reg, store, cls, flds, fm)


def _register_class(reg, store, cls, flds, fm):
    def add(name, params, fn, async_ok=False):
        reg[name] = Method(name, fn, params, async_ok=async_ok)

    add("%s.get_all" % cls, [], lambda ctx: store.all(cls))
    add("%s.get_all_records" % cls, [],
        lambda ctx: {r: store.record(cls, r) for r in store.all(cls)})

    def where(ctx, expr):
        pred = compile_where(expr)
        out = {}
        for r in store.all(cls):
            rec = store.record(cls, r)
            if pred(rec):
                out[r] = rec
        return out
    add("%s.get_all_records_where" % cls, [("expr", "s")], where)
    add("%s.get_record" % cls, [("self", "ref:%s" % cls)], lambda ctx, r: store.record(cls, r))
    add("%s.get_by_uuid" % cls, [("uuid", "s")], lambda ctx, u: store.by_uuid(cls, u))
    if "name_label" in fm:
        add("%s.get_by_name_label" % cls, [("label", "s")],
            lambda ctx, label: store.find(cls, name_label=label))
    for f in flds:
        fname, typ = f[0], f[1]
        add("%s.get_%s" % (cls, fname), [("self", "ref:%s" % cls)],
            (lambda fname: lambda ctx, r: store.field_value(cls, r, fname))(fname))
        if len(f) == 5 or not f[3]:
            continue
        ptyp = typ.replace("ref:", "ref?:", 1) if typ.startswith("ref:") else typ
        add("%s.set_%s" % (cls, fname), [("self", "ref:%s" % cls), ("value", ptyp)],
            (lambda fname: lambda ctx, r, v: (store.update(cls, r, **{fname: v}), "")[1])(fname))
        if typ.startswith("map:"):
            vt = typ[4:]

            def add_to(ctx, r, key, value, fname=fname):
                obj = store.get(cls, r)
                if key in obj[fname]:
                    raise XenAPIError("MAP_DUPLICATE_KEY", cls, fname, obj["uuid"], key)
                m = dict(obj[fname])
                m[key] = value
                store.update(cls, r, **{fname: m})
                return ""

            def remove_from(ctx, r, key, fname=fname):
                obj = store.get(cls, r)
                if key in obj[fname]:
                    m = dict(obj[fname])
                    del m[key]
                    store.update(cls, r, **{fname: m})
                return ""
            add("%s.add_to_%s" % (cls, fname), [("self", "ref:%s" % cls), ("key", "s"), ("value", vt)], add_to)
            add("%s.remove_from_%s" % (cls, fname), [("self", "ref:%s" % cls), ("key", "s")], remove_from)
        elif typ.startswith("set:"):
            et = typ[4:]

            def add_set(ctx, r, value, fname=fname):
                obj = store.get(cls, r)
                if value not in obj[fname]:
                    store.update(cls, r, **{fname: obj[fname] + [value]})
                return ""

            def remove_set(ctx, r, value, fname=fname):
                obj = store.get(cls, r)
                if value in obj[fname]:
                    store.update(cls, r, **{fname: [v for v in obj[fname] if v != value]})
                return ""
            # xapi names these add_<field> / remove_<field> (e.g. VM.add_tags)
            add("%s.add_%s" % (cls, fname), [("self", "ref:%s" % cls), ("value", et)], add_set)
            add("%s.remove_%s" % (cls, fname), [("self", "ref:%s" % cls), ("value", et)], remove_set)

    if cls in GENERIC_CREATE:
        def create(ctx, rec):
            values = {}
            for k, v in rec.items():
                f = fm.get(k)
                if f is None or len(f) == 5 or k == "uuid":
                    continue
                from .api import coerce
                values[k] = coerce(v, f[1].replace("ref:", "ref?:", 1) if f[1].startswith("ref:") else f[1],
                                   k, store)
            return store.create(cls, values)
        add("%s.create" % cls, [("args", "rec")], create, async_ok=True)
    if cls in GENERIC_DESTROY:
        add("%s.destroy" % cls, [("self", "ref:%s" % cls)],
            lambda ctx, r: (store.delete(cls, r), "")[1], async_ok=True)

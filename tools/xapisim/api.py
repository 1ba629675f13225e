"""Method registry and parameter types shared by the wire and the class families.

A method is registered under its XenAPI name ("VM.start") with a parameter list
[(name, type), ...] (the session not counted) using the schema type notation plus:

    any         anything, unchecked
    ref?:C      a reference to C that may be OpaqueRef:NULL
    rec         a struct (record) checked by the implementation

The dispatcher checks the count (MESSAGE_PARAMETER_COUNT_MISMATCH) and unmarshals the
arguments (FIELD_TYPE_ERROR, enumerations to their canonical case) before the session, as
xapi's generated server does; the handles (HANDLE_INVALID) are looked up when the call runs,
inside the task for an ``Async.`` call.  Then it calls ``fn(ctx, *args)``.
"""

import datetime
import time
import xmlrpc.client

from .errors import XenAPIError
from .schema import CLASSES, NULL, canonical_enum


class I32(int):
    """An int that travels as an XML-RPC <int> (xapi's int32 fields), not as a decimal string."""


class DT(str):
    """A datetime travelling as a string 'YYYYMMDDTHH:MM:SSZ'; the wire marshals it as dateTime.iso8601."""


def now_dt():
    return time.strftime("%Y%m%dT%H:%M:%SZ", time.gmtime())


class Method:
    __slots__ = ("name", "fn", "params", "session", "async_ok", "locked", "optional")

    def __init__(self, name, fn, params, session=True, async_ok=True, locked=True, optional=0):
        self.name = name
        self.fn = fn
        self.params = list(params)
        self.session = session
        self.async_ok = async_ok
        self.locked = locked
        self.optional = optional   # how many trailing params may be omitted


class Registry(dict):
    def add(self, name, params=(), **kw):
        def deco(fn):
            self[name] = Method(name, fn, params, **kw)
            return fn
        return deco


class Ctx:
    """What a method implementation sees: the simulator and the caller's session."""

    def __init__(self, sim, session=None, task=None):
        self.sim = sim
        self.session = session
        self.task = task

    @property
    def store(self):
        return self.sim.store


def _type_error(pname):
    return XenAPIError("FIELD_TYPE_ERROR", pname)


def coerce(value, typ, pname, store):
    """Convert/check one wire value against a type; raise FIELD_TYPE_ERROR / HANDLE_INVALID."""
    if typ in ("any", "rec"):
        if typ == "rec" and not isinstance(value, dict):
            raise _type_error(pname)
        return value
    if typ == "s":
        if isinstance(value, str):
            return value
        raise _type_error(pname)
    if typ == "i":
        if isinstance(value, bool):
            raise _type_error(pname)
        if isinstance(value, int):
            return value
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                raise _type_error(pname)
        raise _type_error(pname)
    if typ == "f":
        if isinstance(value, bool):
            raise _type_error(pname)
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                raise _type_error(pname)
        raise _type_error(pname)
    if typ == "b":
        if isinstance(value, bool):
            return value
        raise _type_error(pname)
    if typ.startswith("e:"):
        canonical = canonical_enum(typ[2:], value) if isinstance(value, str) else None
        if canonical is None:
            raise _type_error(pname)
        return canonical
    if typ == "dt":
        if isinstance(value, xmlrpc.client.DateTime):
            return DT(value.value if value.value.endswith("Z") else value.value + "Z")
        if isinstance(value, datetime.datetime):
            return DT(value.strftime("%Y%m%dT%H:%M:%SZ"))
        if isinstance(value, str):
            return DT(value)
        raise _type_error(pname)
    if typ.startswith("ref:") or typ.startswith("ref?:"):
        nullable = typ.startswith("ref?:")
        cls = typ.split(":", 1)[1]
        if not isinstance(value, str):
            raise _type_error(pname)
        if cls not in CLASSES or store is None:
            return value
        if value == NULL and nullable:
            return value
        if not store.exists(cls, value):
            raise XenAPIError("HANDLE_INVALID", cls, value)
        return value
    if typ.startswith("set:"):
        if not isinstance(value, (list, tuple)):
            raise _type_error(pname)
        return [coerce(v, typ[4:], pname, store) for v in value]
    if typ.startswith("map:"):
        if not isinstance(value, dict):
            raise _type_error(pname)
        return {str(k): coerce(v, typ[4:], pname, store) for k, v in value.items()}
    raise ValueError("unknown type %r" % typ)


def coerce_record(rec, fields, required, store):
    """A create call's record: the ``fields`` (name -> type) it gives, each coerced; a ``required`` one
    missing is FIELD_TYPE_ERROR naming it, as xapi answers."""
    values = {k: coerce(rec[k], t, k, store) for k, t in fields.items() if k in rec}
    for k in required:
        if k not in values:
            raise XenAPIError("FIELD_TYPE_ERROR", k)
    return values


def check_handles(value, typ, store):
    """HANDLE_INVALID for the first reference in an unmarshalled argument that names no object."""
    if typ.startswith("ref:") or typ.startswith("ref?:"):
        cls = typ.split(":", 1)[1]
        if cls in CLASSES and not (value == NULL and typ.startswith("ref?:")) and not store.exists(cls, value):
            raise XenAPIError("HANDLE_INVALID", cls, value)
    elif typ.startswith("set:"):
        for v in value:
            check_handles(v, typ[4:], store)
    elif typ.startswith("map:"):
        for v in value.values():
            check_handles(v, typ[4:], store)

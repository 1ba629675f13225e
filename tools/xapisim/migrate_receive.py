"""VM migration, the receiving side: the simulator's SM and xenops services that
host.migrate_receive names in its ``dest`` map (``http://<ip>/services/SM?session_id=...``).

Only another simulator's VM.migrate_send talks to these (``migrate.py``); a XenAPI client never
does, as with xapi's own mirror and xenops services.  All need the session migrate_receive made.

* ``PUT /services/SM/vhd?sr=<ref>&parent=<uuid or empty>``, body one VHD file, header
  ``X-Xapisim-VDI`` (JSON: the VDI's fields): the file lands in the SR under a fresh uuid,
  linked to its (already received) parent, checked with the VHD library, and becomes a VDI.
  Answer ``{"uuid", "vdi"}``.  Fault point ``/services/SM/vhd`` (``sim.fault_add``): the nth file
  fails after its bytes arrived, as a copy that breaks mid-way.
* ``POST /services/SM/abort`` ``{"vdis": [refs]}``: remove received VDIs (files and records).
* ``POST /services/xenops/vm`` (the VM, its snapshots, their VBDs and VIFs, the VDI map):
  the VM is created with its uuid, on the named host, running again if it ran.  ``{"vm": ref}``.
"""

import json
import os
import uuid as uuidlib

from .errors import XenAPIError
from .schema import NULL
from .vhd import VHD, VHDError, check as vhd_check

KEEP_VDI = ("name_label", "name_description", "type", "sharable", "read_only", "managed", "is_a_snapshot",
            "snapshot_time", "other_config", "xenstore_data")
VM_DROP = ("uuid_", "resident_on", "metrics", "guest_metrics", "consoles", "power_state", "domid",
           "snapshot_of", "parent", "suspend_VDI", "suspend_SR", "affinity", "scheduled_to_be_resident_on")


def _plain(rec, drop=()):
    """A record without references to the sender's objects (they mean nothing here)."""
    out = {}
    for k, v in rec.items():
        if k in drop or k == "uuid" and "uuid_" in drop:
            continue
        if isinstance(v, str) and v.startswith("OpaqueRef:"):
            continue
        if isinstance(v, list) and any(isinstance(x, str) and x.startswith("OpaqueRef:") for x in v):
            continue
        out[k] = v
    return out


class Receiver:
    def __init__(self, sim):
        self.sim = sim
        self.store = sim.store

    def _reply(self, h, code, value):
        body = json.dumps(value).encode()
        h.send_response(code)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(body)))
        h.send_header("Connection", "close")
        h.end_headers()
        h.wfile.write(body)

    def _serve(self, h, fn):
        from .http_vdi import Request
        req = Request(h)
        n = req.length or 0
        body = h.rfile.read(n) if n else b""
        try:
            self.sim.sessions.check(req.credential("session_id"))
            value = fn(req, body)
        except XenAPIError as e:
            self._reply(h, 500, {"Status": "Failure", "ErrorDescription": [str(x) for x in e.description]})
            return
        self._reply(h, 200, value)

    # ---------------------------------------------------------------- SM
    def vhd(self, req, body):
        st = self.store
        sr = req.arg("sr")
        meta = json.loads(req.h.headers.get("X-Xapisim-VDI") or "{}")
        with st.lock:
            if not st.exists("SR", sr):
                raise XenAPIError("HANDLE_INVALID", "SR", sr)
            d = self.sim.storage.sr_path(sr)
            self.sim.storage.check_space(sr, len(body))
        u = str(uuidlib.uuid4())
        part = os.path.join(d, ".migrate-%s.part" % u)
        path = os.path.join(d, "%s.vhd" % u)
        with open(part, "wb") as fh:
            fh.write(body)
        try:
            self.sim.faults.before("/services/SM/vhd")
            parent = req.arg("parent") or ""
            with VHD.open(part, writable=True) as v:
                v.set_uuid(u)
                if parent:
                    v.set_parent(os.path.join(d, "%s.vhd" % parent))
            problems = vhd_check(part, check_parents=bool(parent))
            if problems:
                raise XenAPIError("VDI_IO_ERROR", "; ".join(problems))
        except (XenAPIError, VHDError) as e:
            os.unlink(part)
            raise e if isinstance(e, XenAPIError) else XenAPIError("VDI_IO_ERROR", str(e))
        os.rename(part, path)
        with VHD.open(path) as v:
            size = v.virtual_size
        sm = {"vdi_type": "vhd"}
        if parent:
            sm["vhd-parent"] = parent
        values = {k: meta[k] for k in KEEP_VDI if k in meta}
        values.update(uuid=u, location=u, SR=sr, virtual_size=size, sm_config=sm)
        with st.lock:
            ref = st.create("VDI", values)
        return {"uuid": u, "vdi": ref}

    def abort(self, req, body):
        st = self.store
        with st.lock:
            for ref in reversed(json.loads(body.decode()).get("vdis", [])):
                if st.exists("VDI", ref):
                    try:
                        os.unlink(self.sim.storage.vdi_path(ref))
                    except FileNotFoundError:
                        pass
                    st.delete("VDI", ref)
        return {}

    # ---------------------------------------------------------------- xenops
    def vm(self, req, body):
        meta = json.loads(body.decode())
        st = self.store
        with st.lock:
            host = meta["host"]
            if not st.exists("host", host):
                raise XenAPIError("HANDLE_INVALID", "host", host)
            ref = self._create(meta["self"])
            for snap in meta["snapshots"]:
                s = self._create(snap)
                st.update("VM", s, snapshot_of=ref)
            for vdi, of in meta["vdi_snapshot_of"].items():
                if st.exists("VDI", vdi):
                    st.update("VDI", vdi, snapshot_of=of)
            if meta["self"]["vm"]["power_state"] in ("Running", "Paused"):
                self.sim.vm.boot(ref, paused=meta["self"]["vm"]["power_state"] == "Paused")
                st.update("VM", ref, resident_on=host)
                self.sim.migration.pool_migrate_console(ref, host)
        return {"vm": ref}

    def _create(self, dev):
        st = self.store
        rec = _plain(dev["vm"], ("resident_on", "metrics", "guest_metrics", "power_state", "domid",
                                 "snapshot_of", "parent", "suspend_VDI", "suspend_SR", "affinity"))
        rec["power_state"] = "Halted" if not dev["vm"]["is_a_snapshot"] else dev["vm"]["power_state"]
        ref = st.create("VM", rec)
        for b in dev["vbds"]:
            v = _plain(b, ("uuid", "currently_attached", "device"))
            v.update(VM=ref, VDI=b["VDI"] if b["VDI"] != NULL and st.exists("VDI", b["VDI"]) else NULL)
            st.create("VBD", v)
        for f in dev["vifs"]:
            v = _plain(f, ("uuid", "currently_attached"))
            v.update(VM=ref, network=f["network"])
            st.create("VIF", v)
        return ref


def register(sim):
    r = Receiver(sim)
    sim.http_routes[("PUT", "/services/SM/vhd")] = lambda h: r._serve(h, r.vhd)
    sim.http_routes[("POST", "/services/SM/abort")] = lambda h: r._serve(h, r.abort)
    sim.http_routes[("POST", "/services/xenops/vm")] = lambda h: r._serve(h, r.vm)

"""VM migration, the sending side: VM.pool_migrate inside the pool, and storage motion to
another pool (host.migrate_receive on the destination, VM.assert_can_migrate, VM.migrate_send).

After xapi's xapi_vm_migrate.ml and xapi_host.ml (xapi-project/xen-api): the ``dest`` map that
migrate_receive answers (keys SM, host, xenops, session_id, master), the checks of
assert_can_migrate in xapi's order (power state, destination host enabled, memory, every VDI
of the VM and of its snapshots in the VDI map: VDI_NOT_IN_MAP [vdi]; every VIF mapped or
inferred from a mapped VIF with the same MAC: VIF_NOT_IN_MAP [vif]; an unreachable
destination: CANNOT_CONTACT_HOST [ip]).  The disks move as whole VHD files, base copies
first, so the destination holds the same chain (fresh uuids, re-linked, checked) byte for
byte; the VM and its snapshots follow as metadata; the source's VM and VDIs go only after
the destination has everything.  What fails on the way is VM_MIGRATE_FAILED
[vm, source, destination, msg], with whatever reached the destination removed again.

The transfer between two simulators is their own (``migrate_receive.py``): xapi mirrors
through the SM and xenops services named in ``dest``; a XenAPI client sees neither.
"""

import json
import os
import urllib.error
import urllib.parse
import urllib.request
import xmlrpc.client

from .errors import XenAPIError
from .schema import NULL

DEST_KEYS = ("SM", "host", "xenops", "session_id", "master")
COPY_FAULT = "/services/SM/vhd"        # fault point on the destination: fault_add(COPY_FAULT, ...)


class Remote:
    """The destination pool's XenAPI, reached with the session migrate_receive made there."""

    def __init__(self, dest):
        for key in DEST_KEYS:
            if key not in dest:
                raise XenAPIError("INTERNAL_ERROR", "Not_found")
        self.dest = dest
        self.master = dest["master"].rstrip("/")
        self.session = dest["session_id"]
        self.host = dest["host"]
        self.ip = urllib.parse.urlsplit(dest["xenops"]).hostname or ""
        self.proxy = xmlrpc.client.ServerProxy(self.master + "/", allow_none=True)

    def call(self, name, *args):
        fn = self.proxy
        for part in name.split("."):
            fn = getattr(fn, part)
        try:
            answer = fn(self.session, *args)
        except (OSError, xmlrpc.client.ProtocolError):
            raise XenAPIError("CANNOT_CONTACT_HOST", self.ip)
        if answer.get("Status") != "Success":
            raise XenAPIError(*answer.get("ErrorDescription", ["INTERNAL_ERROR", "remote"]))
        return answer.get("Value")

    def post(self, path, body, query=None, headers=None):
        """A sim-to-sim request to the destination's SM/xenops service; its JSON answer."""
        q = dict(query or {}, session_id=self.session)
        url = "%s%s?%s" % (self.master, path, urllib.parse.urlencode(q))
        req = urllib.request.Request(url, data=body, method="PUT" if path == "/services/SM/vhd" else "POST",
                                     headers=dict(headers or {}, **{"Content-Length": str(len(body))}))
        try:
            with urllib.request.urlopen(req, timeout=300) as resp:
                return json.loads(resp.read().decode())
        except urllib.error.HTTPError as e:
            try:
                desc = json.loads(e.read().decode())["ErrorDescription"]
            except (ValueError, KeyError):
                desc = ["INTERNAL_ERROR", "HTTP %d from the destination" % e.code]
            raise XenAPIError(*desc)
        except OSError:
            raise XenAPIError("CANNOT_CONTACT_HOST", self.ip)


class Migration:
    def __init__(self, sim):
        self.sim = sim
        self.store = sim.store

    # ------------------------------------------------------------ intra-pool
    def host_free_memory(self, host):
        return self.store.get("host_metrics", self.store.get("host", host)["metrics"])["memory_free"]

    def assert_memory(self, vm, available):
        needed = self.store.get("VM", vm)["memory_static_max"]
        if needed > available:
            raise XenAPIError("HOST_NOT_ENOUGH_FREE_MEMORY", str(needed), str(available))

    def vm_vdis(self, vm, with_snapshots=True):
        """The VDIs of the VM's disks (and of its snapshots'), in VBD order; CDs and empty drives left out."""
        st = self.store
        vms = [vm] + (self.snapshots(vm) if with_snapshots else [])
        out = []
        for v in vms:
            for _vbd, b in sorted(st.items("VBD"), key=lambda i: i[1]["userdevice"]):
                if b["VM"] == v and not b["empty"] and b["VDI"] != NULL and b["type"] != "CD" \
                        and b["VDI"] not in out:
                    out.append(b["VDI"])
        return out

    def snapshots(self, vm):
        return [r for r, o in self.store.items("VM") if o["is_a_snapshot"] and o["snapshot_of"] == vm]

    def pool_migrate(self, ctx, vm, host, options):
        st = self.store
        o = self.sim.vm.check(vm, "pool_migrate")
        for vdi in self.vm_vdis(vm, with_snapshots=False):
            sr = st.get("VDI", vdi)["SR"]
            if not st.find_one("PBD", host=host, SR=sr, currently_attached=True):
                raise XenAPIError("VM_REQUIRES_SR", vm, sr)
        if host != o["resident_on"]:
            self.assert_memory(vm, self.host_free_memory(host))
        if ctx.task:
            st.update("task", ctx.task, progress=0.5)
        # a new domain on the host: dom0's VIF ports of the old one go, the new one's are made
        self.sim.dom0_ports.stop(vm, o["domid"])
        st.update("VM", vm, resident_on=host, domid=self.sim.dom0_ports.start(vm, self.sim.vm.domids))
        self.pool_migrate_console(vm, host)
        return ""

    def pool_migrate_console(self, vm, host):
        """The console's location names the host the VM runs on now."""
        st = self.store
        address = st.get("host", host)["address"]
        for c, co in st.items("console"):
            if co["VM"] == vm:
                st.update("console", c, location="https://%s/console?uuid=%s" % (address, co["uuid"]))

    # ------------------------------------------------------------ cross-pool
    def migrate_receive(self, ctx, host, network, options):
        st = self.store
        pif = None
        for ref, p in st.items("PIF"):
            if p["host"] == host and p["network"] == network:
                pif = p
        if pif is None:
            raise XenAPIError("HOST_CANNOT_ATTACH_NETWORK", host, network)
        cfg = self.sim.config
        sid = self.sim.sessions.login(cfg.user, cfg.password, "migrate_receive")
        where = "%s:%d" % (pif["IP"] or cfg.host, cfg.port)
        return {"SM": "http://%s/services/SM?session_id=%s" % (where, sid), "host": host,
                "xenops": "http://%s/services/xenops?session_id=%s" % (where, sid),
                "session_id": sid, "master": "http://%s" % where}

    def infer_vif_map(self, vm, vif_map):
        """xapi's infer_vif_map: a VIF not in the map takes the network of a mapped VIF with its MAC."""
        st = self.store
        vifs = [r for r, o in st.items("VIF") if o["VM"] in [vm] + self.snapshots(vm)]
        mapped = {st.get("VIF", v)["MAC"]: n for v, n in vif_map.items() if st.exists("VIF", v)}
        out = {}
        for vif in vifs:
            if vif in vif_map:
                out[vif] = vif_map[vif]
            elif st.get("VIF", vif)["MAC"] in mapped:
                out[vif] = mapped[st.get("VIF", vif)["MAC"]]
            else:
                raise XenAPIError("VIF_NOT_IN_MAP", vif)
        return out

    def assert_can_migrate(self, ctx, vm, dest, live, vdi_map, vif_map, options, vgpu_map=None):
        """The checks, in xapi's order; (remote, inferred vif map).  Nothing changes."""
        st = self.store
        remote = Remote(dest)
        with st.lock:
            o = self.sim.vm.check(vm, "migrate_send")
            for vdi in self.vm_vdis(vm):
                if vdi not in vdi_map:
                    raise XenAPIError("VDI_NOT_IN_MAP", vdi)
            running = o["power_state"] == "Running"
        host = remote.call("host.get_record", remote.host)
        if not host["enabled"]:
            raise XenAPIError("HOST_DISABLED", remote.host)
        if running:
            free = remote.call("host_metrics.get_memory_free", host["metrics"])
            with st.lock:
                self.assert_memory(vm, int(free))
        for sr in set(vdi_map.values()):
            remote.call("SR.get_uuid", sr)              # HANDLE_INVALID from the destination
        with st.lock:
            vifs = self.infer_vif_map(vm, vif_map)
        for net in set(vifs.values()):
            remote.call("network.get_uuid", net)
        return remote, vifs

    def assert_can_migrate_api(self, ctx, vm, dest, live, vdi_map, vif_map, options, vgpu_map=None):
        self.assert_can_migrate(ctx, vm, dest, live, vdi_map, vif_map, options)
        return ""

    def migrate_send(self, ctx, vm, dest, live, vdi_map, vif_map, options, vgpu_map=None):
        remote, vifs = self.assert_can_migrate(ctx, vm, dest, live, vdi_map, vif_map, options)
        st = self.store
        with st.lock:
            source = st.get("VM", vm)["resident_on"]
        sent = {}
        try:
            self._send_disks(ctx, vm, remote, vdi_map, sent)
            with st.lock:
                meta = self._metadata(vm, remote, vifs, sent)
            new_vm = remote.post("/services/xenops/vm", json.dumps(meta).encode())["vm"]
        except XenAPIError as e:
            self._undo(remote, sent)
            raise XenAPIError("VM_MIGRATE_FAILED", vm, source, remote.host, " ".join(e.description))
        with st.lock:
            self._forget_source(vm, sent)
        return new_vm

    # ------------------------------------------------------------ the moves
    def _chain(self, vdi):
        """[leaf, parent, ..., base] uuids of a VDI's VHD chain."""
        st = self.store
        o = st.get("VDI", vdi)
        out = [o["uuid"]]
        parent = o["sm_config"].get("vhd-parent")
        while parent and len(out) < 64:
            out.append(parent)
            parent = st.get("VDI", st.by_uuid("VDI", parent))["sm_config"].get("vhd-parent")
        return out

    def _send_disks(self, ctx, vm, remote, vdi_map, sent):
        """Every file of every chain, parents first, once per destination SR; sent[(uuid, sr)] = (uuid, ref)."""
        st = self.store
        with st.lock:
            plan = []
            for vdi in self.vm_vdis(vm):
                sr = vdi_map[vdi]
                for u in reversed(self._chain(vdi)):
                    if (u, sr) not in [(p[0], p[1]) for p in plan]:
                        ref = st.by_uuid("VDI", u)
                        plan.append((u, sr, self.sim.storage.vdi_path(ref), self._vdi_meta(ref)))
            total = sum(os.path.getsize(p[2]) for p in plan) or 1
        done = 0
        for u, sr, path, meta in plan:
            with open(path, "rb") as fh:
                body = fh.read()
            parent = meta.pop("parent")
            query = {"sr": sr, "parent": sent[(parent, sr)][0] if parent else ""}
            answer = remote.post("/services/SM/vhd", body, query, {"X-Xapisim-VDI": json.dumps(meta)})
            sent[(u, sr)] = (answer["uuid"], answer["vdi"])
            done += len(body)
            if ctx.task:
                with st.lock:
                    st.update("task", ctx.task, progress=round(0.9 * done / total, 2))

    def _vdi_meta(self, ref):
        o = self.store.get("VDI", ref)
        meta = {k: o[k] for k in ("name_label", "name_description", "type", "sharable", "read_only",
                                  "managed", "is_a_snapshot", "snapshot_time", "other_config", "xenstore_data")}
        meta["parent"] = o["sm_config"].get("vhd-parent", "")
        return meta

    def _metadata(self, vm, remote, vifs, sent):
        st = self.store
        new_vdi = {u: v[1] for (u, _sr), v in sent.items()}

        def devices(v):
            vbds = [dict(st.get("VBD", r), VDI=new_vdi.get(st.get("VDI", b["VDI"])["uuid"], NULL)
                         if b["VDI"] != NULL else NULL)
                    for r, b in st.items("VBD") if b["VM"] == v]
            nets = [dict(o, network=vifs[r]) for r, o in st.items("VIF") if o["VM"] == v]
            return {"vm": dict(st.get("VM", v)), "vbds": vbds, "vifs": nets}

        snaps = {}
        for u, ref in new_vdi.items():
            src = st.get("VDI", st.by_uuid("VDI", u))
            if src["is_a_snapshot"] and st.exists("VDI", src["snapshot_of"]):
                snaps[ref] = new_vdi.get(st.get("VDI", src["snapshot_of"])["uuid"], NULL)
        return {"host": remote.host, "self": devices(vm), "snapshots": [devices(s) for s in self.snapshots(vm)],
                "vdi_snapshot_of": snaps}

    def _undo(self, remote, sent):
        """Remove what reached the destination (the base copies too, which VDI.destroy refuses)."""
        if sent:
            try:
                remote.post("/services/SM/abort", json.dumps({"vdis": [v[1] for v in sent.values()]}).encode())
            except XenAPIError:
                pass

    def _forget_source(self, vm, sent):
        """The source's VM, snapshots, and the files of the chains that moved (leaves first)."""
        st = self.store
        storage = self.sim.storage
        self.sim.dom0_ports.stop(vm, st.get("VM", vm)["domid"])
        for v in self.snapshots(vm) + [vm]:
            for kind in ("VBD", "VIF", "console"):
                for r in [r for r, o in st.items(kind) if o["VM"] == v]:
                    st.delete(kind, r)
            o = st.get("VM", v)
            for kind, ref in (("VM_metrics", o["metrics"]), ("VM_guest_metrics", o["guest_metrics"])):
                if ref != NULL and st.exists(kind, ref):
                    st.delete(kind, ref)
            st.delete("VM", v)
        for u, _sr in reversed(list(sent)):
            ref = next((r for r, o in st.items("VDI") if o["uuid"] == u), None)
            if ref is None or any(o["sm_config"].get("vhd-parent") == u for _r, o in st.items("VDI")):
                continue
            storage.drop_vdi(ref)


def register(reg, sim):
    m = Migration(sim)
    sim.migration = m
    cross = [("vm", "ref:VM"), ("dest", "map:s"), ("live", "b"), ("vdi_map", "map:s"), ("vif_map", "map:s"),
             ("options", "map:s"), ("vgpu_map", "map:s")]
    reg.add("VM.pool_migrate", [("vm", "ref:VM"), ("host", "ref:host"), ("options", "map:s")])(m.pool_migrate)
    reg.add("host.migrate_receive", [("host", "ref:host"), ("network", "ref:network"), ("options", "map:s")])(
        m.migrate_receive)
    reg.add("VM.assert_can_migrate", cross, locked=False, optional=1)(m.assert_can_migrate_api)
    reg.add("VM.migrate_send", cross, locked=False, optional=1)(m.migrate_send)

    def host_memory_free(ctx, host_uuid, value):
        with sim.store.lock:
            host = sim.store.get("host", sim.store.by_uuid("host", host_uuid))
            sim.store.update("host_metrics", host["metrics"], memory_free=value)
        return ""
    from .api import Method
    reg["sim.host_memory_free"] = Method("sim.host_memory_free", host_memory_free,
                                         [("host_uuid", "s"), ("bytes", "i")], async_ok=False, locked=False)

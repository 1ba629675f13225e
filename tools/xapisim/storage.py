"""Storage family: SR, PBD, VDI, VBD on real VHD files, one directory per SR (a file SR).

Layout: <state-dir>/sr/<sr-uuid>/<vdi-uuid>.vhd, the footer uuid of each file is the VDI
uuid, and differencing files name their parent by a relative locator.  A VDI plugged
into the helper VM appears as a raw file <device-dir>/<device> (exported through the
chain) and is written back into its leaf when unplugged.
"""

import os
import re
import threading

from .api import coerce_record, now_dt
from .errors import XenAPIError, no_space, sr_backend_failure
from .schema import NULL
from .vhd import VHD, VHDError, coalesce, create_differencing, create_dynamic, export_raw, import_raw

MiB = 1024 * 1024
VHD_BLOCK = 2 * MiB
MAX_VHD = 2040 * 1024 ** 3
UUID_VHD = re.compile(r"^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\.vhd$")


def round_vhd(size):
    return -(-int(size) // VHD_BLOCK) * VHD_BLOCK


class Storage:
    def __init__(self, sim):
        self.sim = sim
        self.store = sim.store
        st = self.store
        st.computed[("VDI", "physical_utilisation")] = self._vdi_phys
        st.computed[("SR", "physical_utilisation")] = lambda ref, obj: self.sr_used(ref)
        st.computed[("SR", "virtual_allocation")] = lambda ref, obj: sum(
            o["virtual_size"] for o in st.objs["VDI"].values() if o["SR"] == ref)
        st.computed[("VDI", "allowed_operations")] = self._vdi_allowed

    # ------------------------------------------------------------------ paths
    def is_file_sr(self, sr):
        return self.store.get("SR", sr)["type"] == "ext"

    def sr_path(self, sr):
        return self.sim.sr_dir(self.store.get("SR", sr)["uuid"])

    def vdi_path(self, vdi):
        o = self.store.get("VDI", vdi)
        return os.path.join(self.sr_path(o["SR"]), "%s.vhd" % o["uuid"])

    def _vdi_phys(self, ref, obj):
        if obj["SR"] in self.store.objs["SR"] and self.is_file_sr(obj["SR"]):
            try:
                return os.stat(os.path.join(self.sr_path(obj["SR"]), "%s.vhd" % obj["uuid"])).st_size
            except OSError:
                return 0
        return obj["physical_utilisation"]

    def sr_used(self, sr):
        if not self.is_file_sr(sr):
            return self.store.get("SR", sr)["physical_utilisation"]
        total = 0
        d = self.sr_path(sr)
        try:
            names = os.listdir(d)
        except OSError:
            return 0
        for n in names:
            try:
                total += os.stat(os.path.join(d, n)).st_size
            except OSError:
                pass
        return total

    def check_space(self, sr, need):
        o = self.store.get("SR", sr)
        if need > 0 and self.sr_used(sr) + need > o["physical_size"]:
            raise no_space()

    def _require_file_sr(self, sr):
        if not self.is_file_sr(sr):
            raise XenAPIError("SR_OPERATION_NOT_SUPPORTED", sr)

    # ------------------------------------------------------------ VDI records
    def _new_record(self, sr, uuid, values):
        v = dict(values)
        v.update({"SR": sr, "uuid": uuid, "location": uuid})
        sm = dict(v.get("sm_config") or {})
        sm.setdefault("vdi_type", "vhd")
        v["sm_config"] = sm
        return self.store.create("VDI", v)

    def create_vdi(self, sr, values, check=True):
        import uuid as uuidlib
        self._require_file_sr(sr)
        size = round_vhd(values.get("virtual_size", 0))
        if size <= 0 or size > MAX_VHD:
            raise sr_backend_failure(79, "VDI Invalid size")
        if check:
            self.check_space(sr, size)
        u = str(uuidlib.uuid4())
        path = os.path.join(self.sr_path(sr), "%s.vhd" % u)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        create_dynamic(path, size, uuid=u).close()
        values = dict(values)
        values["virtual_size"] = size
        sm = dict(values.get("sm_config") or {})
        sm.pop("vhd-parent", None)
        values["sm_config"] = sm
        return self._new_record(sr, u, values)

    def attached_vbds(self, vdi):
        return [r for r, o in self.store.objs["VBD"].items() if o["VDI"] == vdi and o["currently_attached"]]

    def _vdi_allowed(self, ref, obj):
        if not obj["managed"]:
            return []
        ops = ["clone", "copy", "snapshot", "generate_config", "update", "force_unlock"]
        if not self.attached_vbds(ref):
            ops += ["destroy", "forget", "resize"]
        ops.append("resize_online")
        return ops

    def _check_vdi_op(self, vdi, op):
        o = self.store.get("VDI", vdi)
        if not o["managed"]:
            raise XenAPIError("VDI_NOT_MANAGED", vdi)
        if op in ("destroy", "resize", "forget") and self.attached_vbds(vdi):
            raise XenAPIError("VDI_IN_USE", vdi, op)
        return o

    def children(self, vdi_uuid, sr):
        return [r for r, o in self.store.objs["VDI"].items()
                if o["SR"] == sr and o["sm_config"].get("vhd-parent") == vdi_uuid]

    def sync_helper(self, vdi):
        """If the VDI is plugged into the helper, write the raw device back into the leaf now."""
        for vbd in self.attached_vbds(vdi):
            raw = self.helper_raw(vbd)
            if raw and os.path.exists(raw):
                import_raw(raw, self.vdi_path(vdi))

    def helper_raw(self, vbd):
        o = self.store.get("VBD", vbd)
        vm = self.store.objs["VM"].get(o["VM"])
        if vm is None or vm["uuid"] != self.sim.helper_uuid() or not o["device"]:
            return None
        return os.path.join(self.sim.config.device_dir, o["device"])

    # ------------------------------------------------------------ operations
    def destroy_vdi(self, vdi):
        st = self.store
        self._check_vdi_op(vdi, "destroy")
        for vbd in [r for r, b in st.objs["VBD"].items() if b["VDI"] == vdi]:
            st.delete("VBD", vbd)
        self.drop_vdi(vdi)
        self.sim.gc.kick()

    def drop_vdi(self, vdi):
        """The VDI's record and its file (on a file SR) gone, with no check: VDI.destroy after its
        checks, the garbage collector, a storage motion's source once the copy is done."""
        if self.is_file_sr(self.store.get("VDI", vdi)["SR"]):
            try:
                os.unlink(self.vdi_path(vdi))
            except FileNotFoundError:
                pass
        self.store.delete("VDI", vdi)

    def _snapshot_files(self, vdi):
        """Turn leaf L into L -> B (hidden) and create a second leaf S -> B. Returns (base, S uuids)."""
        import uuid as uuidlib
        st = self.store
        o = st.get("VDI", vdi)
        sr = o["SR"]
        d = self.sr_path(sr)
        self.sync_helper(vdi)
        base_u, snap_u = str(uuidlib.uuid4()), str(uuidlib.uuid4())
        leaf = os.path.join(d, "%s.vhd" % o["uuid"])
        base = os.path.join(d, "%s.vhd" % base_u)
        snap = os.path.join(d, "%s.vhd" % snap_u)
        old_parent = o["sm_config"].get("vhd-parent")
        os.rename(leaf, base)
        try:
            with VHD.open(base, writable=True) as b:
                b.set_uuid(base_u)
                b.hidden = True
            # children of the old leaf (none for a leaf) would be relinked here; a leaf has none
            create_differencing(leaf, base, uuid=o["uuid"]).close()
            create_differencing(snap, base, uuid=snap_u).close()
        except VHDError:
            for p in (leaf, snap):
                if os.path.exists(p) and os.path.exists(base):
                    os.unlink(p)
            os.rename(base, leaf)
            raise
        bsm = {"vdi_type": "vhd"}
        if old_parent:
            bsm["vhd-parent"] = old_parent
        st.create("VDI", {"uuid": base_u, "location": base_u, "SR": sr, "name_label": "base copy",
                          "name_description": "", "virtual_size": o["virtual_size"], "type": o["type"],
                          "read_only": True, "managed": False, "sm_config": bsm, "other_config": {}})
        sm = dict(o["sm_config"])
        sm["vhd-parent"] = base_u
        st.update("VDI", vdi, sm_config=sm)
        return base_u, snap_u

    def snapshot_vdi(self, vdi, driver_params=None, is_snapshot=True):
        st = self.store
        o = self._check_vdi_op(vdi, "snapshot")
        self._require_file_sr(o["SR"])
        self.check_space(o["SR"], 2 * 4 * MiB)
        base_u, snap_u = self._snapshot_files(vdi)
        values = {k: o[k] for k in ("name_label", "name_description", "type", "sharable",
                                    "xenstore_data", "on_boot", "allow_caching")}
        values["virtual_size"] = o["virtual_size"]
        values["other_config"] = dict(o["other_config"])
        values["sm_config"] = {"vdi_type": "vhd", "vhd-parent": base_u}
        if is_snapshot:
            values.update({"is_a_snapshot": True, "snapshot_of": vdi, "snapshot_time": now_dt()})
        values.update({"uuid": snap_u, "location": snap_u, "SR": o["SR"]})
        ref = st.create("VDI", values)
        self.sim.gc.kick()
        return ref

    def copy_vdi(self, vdi, sr):
        import uuid as uuidlib
        st = self.store
        o = self._check_vdi_op(vdi, "copy")
        if sr == NULL:
            sr = o["SR"]
        self._require_file_sr(o["SR"])
        self._require_file_sr(sr)
        self.check_space(sr, o["virtual_size"])
        self.sync_helper(vdi)
        u = str(uuidlib.uuid4())
        dst = os.path.join(self.sr_path(sr), "%s.vhd" % u)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        tmp = os.path.join(self.sr_path(sr), ".copy-%s.raw" % u)
        create_dynamic(dst, o["virtual_size"], uuid=u).close()
        try:
            export_raw(self.vdi_path(vdi), tmp)
            import_raw(tmp, dst)
        except BaseException:
            os.unlink(dst)
            raise
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        values = {k: o[k] for k in ("name_label", "name_description", "type", "sharable", "xenstore_data")}
        values.update({"virtual_size": o["virtual_size"], "other_config": dict(o["other_config"]),
                       "read_only": False, "sm_config": {"vdi_type": "vhd"}})
        return self._new_record(sr, u, values)

    def resize_vdi(self, vdi, size, online=False):
        st = self.store
        o = self._check_vdi_op(vdi, "resize_online" if online else "resize")
        self._require_file_sr(o["SR"])
        new = round_vhd(size)
        if new < o["virtual_size"]:
            raise sr_backend_failure(79, "VDI Invalid size", "shrinking not allowed")
        if new == o["virtual_size"]:
            return ""
        if new > MAX_VHD:
            raise sr_backend_failure(79, "VDI Invalid size")
        self.check_space(o["SR"], new - o["virtual_size"])
        with VHD.open(self.vdi_path(vdi), writable=True) as v:
            v.resize(new)
        st.update("VDI", vdi, virtual_size=new)
        for vbd in self.attached_vbds(vdi):
            raw = self.helper_raw(vbd)
            if raw and os.path.exists(raw):
                os.truncate(raw, new)
        return ""

    # ---------------------------------------------------------------- SR.scan
    def scan(self, sr):
        st = self.store
        self._require_file_sr(sr)
        d = self.sr_path(sr)
        os.makedirs(d, exist_ok=True)
        on_disk = {}
        for name in os.listdir(d):
            m = UUID_VHD.match(name)
            if m:
                on_disk[m.group(1)] = os.path.join(d, name)
        known = {o["uuid"]: r for r, o in st.objs["VDI"].items() if o["SR"] == sr}
        for u, ref in known.items():
            if u not in on_disk:
                for vbd in [r for r, b in st.objs["VBD"].items() if b["VDI"] == ref]:
                    if not st.get("VBD", vbd)["currently_attached"]:
                        st.delete("VBD", vbd)
                st.delete("VDI", ref)
        for u, path in sorted(on_disk.items()):
            try:
                with VHD.open(path) as v:
                    info = {"virtual_size": v.virtual_size, "hidden": bool(v.hidden),
                            "parent": v.parent_uuid if v.disk_type == "differencing" else None,
                            "parent_file": v.parent_path}
            except VHDError:
                continue
            parent_u = info["parent"]
            if info["parent_file"]:
                pm = UUID_VHD.match(os.path.basename(info["parent_file"]))
                if pm:
                    parent_u = pm.group(1)
            ref = known.get(u)
            if ref is None:
                sm = {"vdi_type": "vhd"}
                if parent_u:
                    sm["vhd-parent"] = parent_u
                st.create("VDI", {"uuid": u, "location": u, "SR": sr, "virtual_size": info["virtual_size"],
                                  "managed": not info["hidden"], "read_only": info["hidden"],
                                  "name_label": "base copy" if info["hidden"] else "",
                                  "type": "user", "sm_config": sm})
            else:
                o = st.get("VDI", ref)
                sm = dict(o["sm_config"])
                if parent_u:
                    sm["vhd-parent"] = parent_u
                else:
                    sm.pop("vhd-parent", None)
                changes = {}
                if sm != o["sm_config"]:
                    changes["sm_config"] = sm
                if o["virtual_size"] != info["virtual_size"]:
                    changes["virtual_size"] = info["virtual_size"]
                if o["managed"] == info["hidden"]:
                    changes["managed"] = not info["hidden"]
                if changes:
                    st.update("VDI", ref, **changes)
        st.touch("SR", sr)
        self.sim.gc.kick()
        return ""

    # ------------------------------------------------------------- VBD rules
    def vbd_device(self, userdevice):
        n = int(userdevice)
        name = ""
        n += 1
        while n:
            n, r = divmod(n - 1, 26)
            name = chr(ord("a") + r) + name
        return "xvd" + name

    def allowed_vbd_devices(self, vm):
        used = {o["userdevice"] for o in self.store.objs["VBD"].values() if o["VM"] == vm}
        return [str(i) for i in range(16) if str(i) not in used]

    def attach_vbd(self, vbd):
        """Mark a VBD attached (VM start or VBD.plug); the helper VM gets a raw device file."""
        st = self.store
        o = st.get("VBD", vbd)
        device = self.vbd_device(o["userdevice"])
        st.update("VBD", vbd, currently_attached=True, device=device)
        if o["empty"] or o["VDI"] == NULL:
            return
        raw = self.helper_raw(vbd)
        if raw and self.is_file_sr(st.get("VDI", o["VDI"])["SR"]):
            os.makedirs(os.path.dirname(raw), exist_ok=True)
            export_raw(self.vdi_path(o["VDI"]), raw)

    def detach_vbd(self, vbd):
        st = self.store
        o = st.get("VBD", vbd)
        raw = self.helper_raw(vbd)
        if raw and os.path.exists(raw):
            if o["VDI"] in st.objs["VDI"] and o["mode"] == "RW":
                import_raw(raw, self.vdi_path(o["VDI"]))
            os.unlink(raw)
        st.update("VBD", vbd, currently_attached=False)


# ----------------------------------------------------------------- registration
def register(reg, sim):
    S = Storage(sim)
    sim.storage = S
    st = sim.store

    add = reg.add

    VDI_CREATE_FIELDS = {"name_label": "s", "name_description": "s", "SR": "ref:SR", "virtual_size": "i",
                         "type": "e:vdi_type", "sharable": "b", "read_only": "b", "other_config": "map:s",
                         "xenstore_data": "map:s", "sm_config": "map:s", "tags": "set:s"}

    @add("VDI.create", [("args", "rec")])
    def vdi_create(ctx, rec):
        values = coerce_record(rec, VDI_CREATE_FIELDS, ("SR", "virtual_size"), st)
        values.setdefault("type", "user")
        return S.create_vdi(values.pop("SR"), values)

    add("VDI.destroy", [("self", "ref:VDI")])(lambda ctx, v: (S.destroy_vdi(v), "")[1])
    add("VDI.snapshot", [("vdi", "ref:VDI"), ("driver_params", "map:s")], optional=1)(
        lambda ctx, v, dp=None: S.snapshot_vdi(v, dp, True))
    add("VDI.clone", [("vdi", "ref:VDI"), ("driver_params", "map:s")], optional=1)(
        lambda ctx, v, dp=None: S.snapshot_vdi(v, dp, False))
    add("VDI.copy", [("vdi", "ref:VDI"), ("sr", "ref?:SR"), ("base_vdi", "ref?:VDI"), ("into_vdi", "ref?:VDI")],
        optional=2)(lambda ctx, v, sr, base=NULL, into=NULL: S.copy_vdi(v, sr))
    add("VDI.resize", [("vdi", "ref:VDI"), ("size", "i")])(lambda ctx, v, s: S.resize_vdi(v, s, False))
    add("VDI.resize_online", [("vdi", "ref:VDI"), ("size", "i")])(lambda ctx, v, s: S.resize_vdi(v, s, True))

    @add("VDI.forget", [("vdi", "ref:VDI")])
    def vdi_forget(ctx, v):
        S._check_vdi_op(v, "forget")
        for vbd in [r for r, b in st.objs["VBD"].items() if b["VDI"] == v]:
            st.delete("VBD", vbd)
        st.delete("VDI", v)
        return ""

    @add("VDI.introduce", [("uuid", "s"), ("name_label", "s"), ("name_description", "s"), ("SR", "ref:SR"),
                           ("type", "e:vdi_type"), ("sharable", "b"), ("read_only", "b"), ("other_config", "map:s"),
                           ("location", "s"), ("xenstore_data", "map:s"), ("sm_config", "map:s"),
                           ("managed", "b"), ("virtual_size", "i"), ("physical_utilisation", "i"),
                           ("metadata_of_pool", "ref?:pool"), ("is_a_snapshot", "b"), ("snapshot_time", "dt"),
                           ("snapshot_of", "ref?:VDI")], optional=7)
    def vdi_introduce(ctx, uuid, name_label, name_description, sr, typ, sharable, read_only, other_config,
                      location, xenstore_data=None, sm_config=None, *rest):
        S.scan(sr)
        u = location or uuid
        refs = [r for r, o in st.objs["VDI"].items() if o["SR"] == sr and o["uuid"] == u]
        if not refs:
            raise XenAPIError("VDI_LOCATION_MISSING", sr, location)
        st.update("VDI", refs[0], name_label=name_label, name_description=name_description, type=typ,
                  sharable=sharable, read_only=read_only, other_config=other_config)
        return refs[0]

    add("SR.scan", [("sr", "ref:SR")])(lambda ctx, sr: S.scan(sr))
    add("SR.update", [("sr", "ref:SR")])(lambda ctx, sr: (st.touch("SR", sr), "")[1])
    add("SR.get_supported_types", [], async_ok=False)(lambda ctx: ["ext", "udev", "iso"])
    add("PBD.plug", [("self", "ref:PBD")])(lambda ctx, p: (st.update("PBD", p, currently_attached=True), "")[1])
    add("PBD.unplug", [("self", "ref:PBD")])(lambda ctx, p: (st.update("PBD", p, currently_attached=False), "")[1])

    # ---------------------------------------------------------------- VBDs
    VBD_FIELDS = {"VM": "ref:VM", "VDI": "ref?:VDI", "userdevice": "s", "bootable": "b", "mode": "e:vbd_mode",
                  "type": "e:vbd_type", "empty": "b", "unpluggable": "b", "other_config": "map:s",
                  "qos_algorithm_type": "s", "qos_algorithm_params": "map:s"}

    @add("VBD.create", [("args", "rec")])
    def vbd_create(ctx, rec):
        if "VDI" in rec and rec["VDI"] in (None, ""):
            rec = dict(rec, VDI=NULL)         # an empty drive
        values = coerce_record(rec, VBD_FIELDS, ("VM",), st)
        vm = values["VM"]
        values.setdefault("VDI", NULL)
        values.setdefault("type", "Disk")
        values.setdefault("mode", "RW")
        if values["type"] not in ("Disk", "CD", "Floppy"):
            raise XenAPIError("FIELD_TYPE_ERROR", "type")
        if values["mode"] not in ("RO", "RW"):
            raise XenAPIError("FIELD_TYPE_ERROR", "mode")
        if values["type"] == "CD" and values["mode"] == "RW":
            raise XenAPIError("VBD_CDS_MUST_BE_READONLY")
        if values["VDI"] == NULL:
            if values["type"] != "CD":
                raise XenAPIError("HANDLE_INVALID", "VDI", NULL)
            values["empty"] = True
        ud = values.get("userdevice", "autodetect")
        if ud == "autodetect" or ud == "":
            free = S.allowed_vbd_devices(vm)
            if not free:
                raise XenAPIError("INVALID_DEVICE", ud)
            ud = free[0]
        elif not ud.isdigit():
            raise XenAPIError("INVALID_DEVICE", ud)
        if any(o["VM"] == vm and o["userdevice"] == ud for o in st.objs["VBD"].values()):
            raise XenAPIError("DEVICE_ALREADY_EXISTS", ud)
        values["userdevice"] = ud
        values["allowed_operations"] = ["attach"]
        return st.create("VBD", values)

    def vbd_vm_running(vbd):
        o = st.get("VBD", vbd)
        vm = st.get("VM", o["VM"])
        if vm["power_state"] != "Running":
            raise XenAPIError("VM_BAD_POWER_STATE", o["VM"], "running", vm["power_state"].lower())
        return o

    @add("VBD.plug", [("self", "ref:VBD")])
    def vbd_plug(ctx, vbd):
        o = st.get("VBD", vbd)
        if o["currently_attached"]:
            raise XenAPIError("DEVICE_ALREADY_ATTACHED", vbd)
        vbd_vm_running(vbd)
        if o["VDI"] != NULL and o["mode"] == "RW":
            vdi = st.get("VDI", o["VDI"])
            if not vdi["sharable"]:
                for other in S.attached_vbds(o["VDI"]):
                    if st.get("VBD", other)["mode"] == "RW":
                        raise XenAPIError("VDI_IN_USE", o["VDI"], "attach")
        S.attach_vbd(vbd)
        return ""

    def unplug(vbd, force):
        o = st.get("VBD", vbd)
        if not o["currently_attached"]:
            raise XenAPIError("DEVICE_ALREADY_DETACHED", vbd)
        vbd_vm_running(vbd)
        if not force and not o["unpluggable"]:
            raise XenAPIError("VBD_NOT_UNPLUGGABLE", vbd)
        S.detach_vbd(vbd)
        return ""
    add("VBD.unplug", [("self", "ref:VBD")])(lambda ctx, v: unplug(v, False))
    add("VBD.unplug_force", [("self", "ref:VBD")])(lambda ctx, v: unplug(v, True))

    @add("VBD.destroy", [("self", "ref:VBD")])
    def vbd_destroy(ctx, vbd):
        o = st.get("VBD", vbd)
        if o["currently_attached"]:
            raise XenAPIError("DEVICE_ALREADY_ATTACHED", vbd)
        st.delete("VBD", vbd)
        return ""

    @add("VBD.eject", [("vbd", "ref:VBD")])
    def vbd_eject(ctx, vbd):
        o = st.get("VBD", vbd)
        if o["type"] != "CD":
            raise XenAPIError("VBD_NOT_REMOVABLE_MEDIA", vbd)
        if o["empty"]:
            raise XenAPIError("VBD_IS_EMPTY", vbd)
        st.update("VBD", vbd, empty=True, VDI=NULL)
        return ""

    @add("VBD.insert", [("vbd", "ref:VBD"), ("vdi", "ref:VDI")])
    def vbd_insert(ctx, vbd, vdi):
        o = st.get("VBD", vbd)
        if o["type"] != "CD":
            raise XenAPIError("VBD_NOT_REMOVABLE_MEDIA", vbd)
        if not o["empty"]:
            raise XenAPIError("VBD_NOT_EMPTY", vbd)
        st.update("VBD", vbd, empty=False, VDI=vdi)
        return ""

    add("VBD.assert_attachable", [("self", "ref:VBD")])(lambda ctx, v: "")
    add("VM.get_allowed_VBD_devices", [("vm", "ref:VM")], async_ok=False)(
        lambda ctx, vm: S.allowed_vbd_devices(vm))

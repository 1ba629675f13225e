"""VM family: lifecycle and power-state rules (after xapi_vm_lifecycle), clone/copy/provision,
snapshot/revert, VCPU and memory setters, consoles, metrics, VIFs."""

import itertools
import random
import time
import xml.etree.ElementTree as ET

from .api import coerce, coerce_record, now_dt
from .errors import XenAPIError
from .schema import NULL

ALL_STATES = ["Halted", "Paused", "Suspended", "Running"]

# op -> allowed power states, in xapi's order (the order shows in VM_BAD_POWER_STATE's "expected")
ALLOWED_STATES = {
    "changing_memory_limits": ["Halted"], "changing_shadow_memory": ["Halted"],
    "changing_static_range": ["Halted"], "changing_VCPUs": ["Halted"], "make_into_template": ["Halted"],
    "provision": ["Halted"], "start": ["Halted"], "start_on": ["Halted"],
    "unpause": ["Paused"], "resume": ["Suspended"], "resume_on": ["Suspended"],
    "clean_reboot": ["Running"], "clean_shutdown": ["Running"], "changing_VCPUs_live": ["Running"],
    "pause": ["Running"], "suspend": ["Running"], "pool_migrate": ["Running"], "send_sysrq": ["Running"],
    "migrate_send": ["Halted", "Suspended", "Running"],
    "changing_dynamic_range": ["Halted", "Running"], "clone": ["Halted"], "copy": ["Halted"],
    "destroy": ["Halted", "Suspended"], "export": ["Halted", "Suspended"],
    "hard_reboot": ["Paused", "Running"], "checkpoint": ["Paused", "Suspended", "Running"],
    "hard_shutdown": ["Paused", "Suspended", "Running"], "shutdown": ["Paused", "Suspended", "Running"],
    "snapshot": ALL_STATES, "revert": ALL_STATES,
}
TEMPLATE_OK = {"changing_dynamic_range", "changing_static_range", "changing_memory_limits",
               "changing_shadow_memory", "changing_VCPUs", "clone", "copy", "export", "metadata_export",
               "provision"}
SNAPSHOT_OK = {"revert", "clone", "copy", "export", "destroy", "hard_shutdown", "metadata_export"}
LISTED_OPS = ["snapshot", "copy", "clone", "revert", "checkpoint", "start", "start_on", "pause", "unpause",
              "clean_shutdown", "clean_reboot", "hard_shutdown", "hard_reboot", "suspend", "resume",
              "resume_on", "export", "destroy", "provision", "changing_VCPUs_live", "pool_migrate",
              "make_into_template", "changing_static_range", "changing_shadow_memory", "changing_dynamic_range"]


class VMOps:
    def __init__(self, sim):
        self.sim = sim
        self.store = sim.store
        self.domids = itertools.count(2)
        sim.store.computed[("VM", "allowed_operations")] = lambda ref, obj: self.allowed_ops(ref)

    # ----------------------------------------------------------------- checks
    def op_error(self, ref, op):
        vm = self.store.get("VM", ref)
        blocked = vm["blocked_operations"]
        if op in blocked:
            return XenAPIError("OPERATION_BLOCKED", ref, blocked[op])
        ps = vm["power_state"]
        allowed = ALLOWED_STATES.get(op, ALL_STATES)
        if vm["is_a_snapshot"] and op in ("clone", "copy"):
            allowed = allowed + ["Suspended"]
        if ps not in allowed:
            return XenAPIError("VM_BAD_POWER_STATE", ref, ", ".join(s.lower() for s in allowed), ps.lower())
        if vm["is_a_template"] and not vm["is_a_snapshot"]:
            default = vm["other_config"].get("default_template") == "true"
            if not (op in TEMPLATE_OK or (op == "destroy" and not default)):
                return XenAPIError("VM_IS_TEMPLATE", ref, op)
        if vm["is_a_snapshot"] and op not in SNAPSHOT_OK:
            return XenAPIError("VM_IS_SNAPSHOT", ref, op)
        if op == "provision" and not vm["is_a_template"]:
            return XenAPIError("ONLY_PROVISION_TEMPLATE")
        if op == "revert" and not vm["is_a_snapshot"]:
            return XenAPIError("ONLY_REVERT_SNAPSHOT")
        if vm["is_control_domain"] and op not in ("changing_dynamic_range", "start", "metadata_export"):
            return XenAPIError("OPERATION_NOT_ALLOWED", "Operations on domain 0 are not allowed")
        return None

    def check(self, ref, op):
        err = self.op_error(ref, op)
        if err is not None:
            raise err
        return self.store.get("VM", ref)

    def allowed_ops(self, ref):
        return [op for op in LISTED_OPS if self.op_error(ref, op) is None]

    # ------------------------------------------------------------ transitions
    def _guest_metrics(self, ref):
        st = self.store
        vm = st.get("VM", ref)
        nets = {}
        for vif, o in st.items("VIF"):
            if o["VM"] == ref:
                nets["%s/ip" % o["device"]] = "10.%d.%d.%d" % (random.randrange(1, 255), random.randrange(256),
                                                                random.randrange(1, 255))
        return st.create("VM_guest_metrics", {
            "os_version": {"name": "Debian GNU/Linux 12 (bookworm)", "distro": "debian", "major": "12",
                           "minor": "0", "uname": "6.1.0-13-amd64"},
            "PV_drivers_version": {"major": "8", "minor": "2", "micro": "1", "build": "1"},
            "memory": {}, "disks": {}, "networks": nets, "last_updated": now_dt(), "live": True,
            "other": {"feature-shutdown": "1", "feature-suspend": "1", "feature-poweroff": "1",
                      "feature-reboot": "1", "feature-vcpu-hotplug": "1", "has-vendor-device": "0",
                      "platform-feature-multiprocessor-suspend": "1"},
        })

    def boot(self, ref, paused=False, helper=False):
        st = self.store
        vm = st.get("VM", ref)
        host = self.sim.host_ref()
        for vbd, o in st.items("VBD"):
            if o["VM"] == ref and not o["currently_attached"]:
                if helper or not o["empty"] or o["type"] == "CD":
                    self.sim.storage.attach_vbd(vbd)
        for vif, o in st.items("VIF"):
            if o["VM"] == ref:
                st.update("VIF", vif, currently_attached=True)
        metrics = vm["metrics"]
        mvals = {"memory_actual": vm["memory_dynamic_max"], "VCPUs_number": vm["VCPUs_at_startup"],
                 "start_time": now_dt(), "last_updated": now_dt(), "state": [],
                 "current_domain_type": vm["domain_type"] or "hvm", "hvm": vm["domain_type"] != "pv"}
        if metrics == NULL or metrics not in st.objs["VM_metrics"]:
            metrics = st.create("VM_metrics", mvals)
        else:
            st.update("VM_metrics", metrics, **mvals)
        gm = self._guest_metrics(ref)
        st.update("VM", ref, power_state="Paused" if paused else "Running", resident_on=host,
                  domid=self.sim.dom0_ports.start(ref, self.domids), metrics=metrics, guest_metrics=gm,
                  memory_target=vm["memory_dynamic_max"], domarch="x64",
                  last_booted_record="", scheduled_to_be_resident_on=NULL)
        self._make_console(ref)

    def _make_console(self, ref):
        st = self.store
        if any(o["VM"] == ref for o in st.objs["console"].values()):
            return
        addr = st.get("host", self.sim.host_ref())["address"]
        c = st.create("console", {"protocol": "rfb", "VM": ref, "other_config": {}})
        cu = st.get("console", c)["uuid"]
        st.update("console", c, location="https://%s/console?uuid=%s" % (addr, cu))

    def halt(self, ref, state="Halted"):
        st = self.store
        vm = st.get("VM", ref)
        for vbd, o in st.items("VBD"):
            if o["VM"] == ref and o["currently_attached"]:
                self.sim.storage.detach_vbd(vbd)
        for vif, o in st.items("VIF"):
            if o["VM"] == ref and o["currently_attached"]:
                st.update("VIF", vif, currently_attached=False)
        for c, o in st.items("console"):
            if o["VM"] == ref:
                st.delete("console", c)
        gm = vm["guest_metrics"]
        self.sim.dom0_ports.stop(ref, vm["domid"])
        st.update("VM", ref, power_state=state, resident_on=NULL, domid=-1, guest_metrics=NULL,
                  memory_target=0)
        if gm in st.objs["VM_guest_metrics"]:
            st.delete("VM_guest_metrics", gm)
        if vm["metrics"] in st.objs["VM_metrics"]:
            st.update("VM_metrics", vm["metrics"], memory_actual=0, VCPUs_number=0, last_updated=now_dt())

    def clean_wait(self, ref, op):
        """The guest ignoring the request: wait for the shutdown timeout, then fail as xapi does."""
        uuid = self.store.get("VM", ref)["uuid"]
        if uuid in self.sim.ignore_shutdown:
            t = float(self.sim.config.shutdown_timeout)
            time.sleep(t)
            raise XenAPIError("VM_SHUTDOWN_TIMEOUT", ref, "%s" % t)

    # --------------------------------------------------------------- copying
    COPY_SKIP = {"uuid", "allowed_operations", "current_operations", "power_state", "resident_on",
                 "scheduled_to_be_resident_on", "domid", "metrics", "guest_metrics", "is_control_domain",
                 "snapshot_of", "snapshot_time", "is_a_snapshot", "is_default_template", "suspend_VDI",
                 "memory_target", "transportable_snapshot_id", "snapshot_info", "snapshot_metadata",
                 "parent", "last_booted_record"}

    def _clone_record(self, src, name, **extra):
        st = self.store
        o = st.get("VM", src)
        values = {k: v for k, v in o.items() if k not in self.COPY_SKIP}
        oc = dict(values.get("other_config", {}))
        oc.pop("default_template", None)
        oc["mac_seed"] = "%08x-%04x" % (random.getrandbits(32), random.getrandbits(16))
        values.update({"other_config": oc, "name_label": name, "power_state": "Halted",
                       "metrics": st.create("VM_metrics", {"state": [], "install_time": now_dt()})})
        values.update(extra)
        return st.create("VM", values)

    def _copy_devices(self, src, dst, disk_fn):
        st = self.store
        for vbd, o in st.items("VBD"):
            if o["VM"] != src:
                continue
            vdi = o["VDI"]
            if o["type"] == "Disk" and vdi != NULL and vdi in st.objs["VDI"]:
                vdi = disk_fn(vdi)
            st.create("VBD", {k: o[k] for k in ("userdevice", "bootable", "mode", "type", "empty",
                                                  "other_config", "qos_algorithm_type",
                                                  "qos_algorithm_params", "unpluggable")}
                      | {"VM": dst, "VDI": vdi})
        from .inventory import random_mac
        for vif, o in st.items("VIF"):
            if o["VM"] != src:
                continue
            mac = random_mac() if o["MAC_autogenerated"] else o["MAC"]
            st.create("VIF", {k: o[k] for k in ("device", "network", "MTU", "other_config", "qos_algorithm_type",
                                                  "qos_algorithm_params", "locking_mode", "ipv4_allowed",
                                                  "ipv6_allowed", "MAC_autogenerated")}
                      | {"VM": dst, "MAC": mac})

    def clone(self, ref, name):
        self.check(ref, "clone")
        S = self.sim.storage
        new = self._clone_record(ref, name)

        def disk(vdi):
            n = S.snapshot_vdi(vdi, None, is_snapshot=False)
            return n
        self._copy_devices(ref, new, disk)
        return new

    def copy(self, ref, name, sr):
        self.check(ref, "copy")
        S = self.sim.storage
        new = self._clone_record(ref, name)
        self._copy_devices(ref, new, lambda vdi: S.copy_vdi(vdi, sr))
        return new

    def snapshot(self, ref, name):
        vm = self.check(ref, "snapshot")
        S = self.sim.storage
        new = self._clone_record(ref, name, is_a_snapshot=True, is_a_template=True, snapshot_of=ref,
                                 snapshot_time=now_dt(), power_state="Halted")
        self._copy_devices(ref, new, lambda vdi: S.snapshot_vdi(vdi, None, True))
        return new

    def revert(self, snap):
        st = self.store
        self.check(snap, "revert")
        vm = st.get("VM", snap)["snapshot_of"]
        if vm not in st.objs["VM"]:
            raise XenAPIError("VM_REVERT_FAILED", vm, snap)
        if st.get("VM", vm)["power_state"] != "Halted":
            self.halt(vm)
        S = self.sim.storage
        old_vdis = []
        for vbd, o in st.items("VBD"):
            if o["VM"] == vm:
                if o["type"] == "Disk" and o["VDI"] in st.objs["VDI"]:
                    old_vdis.append(o["VDI"])
                st.delete("VBD", vbd)
        for vif, o in st.items("VIF"):
            if o["VM"] == vm:
                st.delete("VIF", vif)
        self._copy_devices(snap, vm, lambda vdi: S.snapshot_vdi(vdi, None, False))
        for v in old_vdis:
            if not S.attached_vbds(v) and not any(o["VDI"] == v for o in st.objs["VBD"].values()):
                S.destroy_vdi(v)
        return ""

    def provision(self, ref):
        st = self.store
        vm = self.check(ref, "provision")
        S = self.sim.storage
        spec = vm["other_config"].get("disks", "")
        disks = []
        if spec.strip():
            try:
                root = ET.fromstring(spec)
            except ET.ParseError as e:
                raise XenAPIError("INTERNAL_ERROR", "cannot parse other_config:disks: %s" % e)
            for d in root.findall("disk"):
                disks.append(d.attrib)
        pool = next(iter(st.objs["pool"].values()))
        for d in disks:
            sr_uuid = d.get("sr", "")
            if sr_uuid:
                sr = st.by_uuid("SR", sr_uuid)
            else:
                sr = pool["default_SR"]
                if sr not in st.objs["SR"]:
                    raise XenAPIError("DEFAULT_SR_NOT_FOUND", sr)
            device = d.get("device", "0")
            vdi = S.create_vdi(sr, {"name_label": "%s %s" % (vm["name_label"], device),
                                    "virtual_size": int(d.get("size", "0")),
                                    "type": d.get("type", "system") if d.get("type") in
                                    ("system", "user", "ephemeral") else "system",
                                    "sharable": False, "read_only": False, "other_config": {}})
            if any(o["VM"] == ref and o["userdevice"] == device for o in st.objs["VBD"].values()):
                raise XenAPIError("DEVICE_ALREADY_EXISTS", device)
            st.create("VBD", {"VM": ref, "VDI": vdi, "userdevice": device, "mode": "RW", "type": "Disk",
                              "bootable": d.get("bootable", "false") == "true"})
        st.update("VM", ref, is_a_template=False, is_default_template=False)
        return ""

    def destroy(self, ref):
        st = self.store
        vm = self.check(ref, "destroy")
        for cls in ("VBD", "VIF", "console"):
            for r, o in st.items(cls):
                if o["VM"] == ref:
                    st.delete(cls, r)
        for cls, f in (("VM_metrics", "metrics"), ("VM_guest_metrics", "guest_metrics")):
            if vm[f] in st.objs[cls]:
                st.delete(cls, vm[f])
        for r, o in st.items("VM"):
            if o["snapshot_of"] == ref:
                st.update("VM", r, snapshot_of=NULL)
        st.delete("VM", ref)
        return ""


# ----------------------------------------------------------------- registration
def register(reg, sim):
    ops = VMOps(sim)
    sim.vm = ops
    st = sim.store

    add = reg.add

    V = [("vm", "ref:VM")]

    @add("VM.start", V + [("start_paused", "b"), ("force", "b")])
    def start(ctx, vm, paused, force):
        ops.check(vm, "start")
        ops.boot(vm, paused)
        return ""

    @add("VM.start_on", V + [("host", "ref:host"), ("start_paused", "b"), ("force", "b")])
    def start_on(ctx, vm, host, paused, force):
        ops.check(vm, "start_on")
        ops.boot(vm, paused)
        return ""

    def clean(ctx, vm, op, after):
        with st.lock:
            ops.check(vm, op)
        ops.clean_wait(vm, op)
        with st.lock:
            ops.check(vm, op)
            after(vm)
        return ""

    add("VM.clean_shutdown", V, locked=False)(lambda ctx, vm: clean(ctx, vm, "clean_shutdown", ops.halt))

    def reboot(vm):
        ops.halt(vm)
        ops.boot(vm)
    add("VM.clean_reboot", V, locked=False)(lambda ctx, vm: clean(ctx, vm, "clean_reboot", reboot))

    @add("VM.hard_shutdown", V)
    def hard_shutdown(ctx, vm):
        ops.check(vm, "hard_shutdown")
        state = st.get("VM", vm)["power_state"]
        if state == "Suspended":
            sus = st.get("VM", vm)["suspend_VDI"]
            st.update("VM", vm, power_state="Halted", suspend_VDI=NULL)
            if sus in st.objs["VDI"]:
                sim.storage.destroy_vdi(sus)
            return ""
        ops.halt(vm)
        return ""

    @add("VM.shutdown", V, locked=False)
    def shutdown(ctx, vm):
        with st.lock:
            state = ops.check(vm, "shutdown")["power_state"]
        if state == "Running":
            try:
                return clean(ctx, vm, "clean_shutdown", ops.halt)
            except XenAPIError:
                pass
        with st.lock:
            return hard_shutdown(ctx, vm)

    @add("VM.hard_reboot", V)
    def hard_reboot(ctx, vm):
        ops.check(vm, "hard_reboot")
        ops.halt(vm)
        ops.boot(vm)
        return ""

    @add("VM.pause", V)
    def pause(ctx, vm):
        ops.check(vm, "pause")
        st.update("VM", vm, power_state="Paused")
        return ""

    @add("VM.unpause", V)
    def unpause(ctx, vm):
        ops.check(vm, "unpause")
        st.update("VM", vm, power_state="Running")
        return ""

    @add("VM.suspend", V)
    def suspend(ctx, vm):
        o = ops.check(vm, "suspend")
        sr = o["suspend_SR"]
        if sr not in st.objs["SR"]:
            sr = next(iter(st.objs["pool"].values()))["suspend_image_SR"]
        sus = NULL
        if sr in st.objs["SR"] and sim.storage.is_file_sr(sr):
            sus = sim.storage.create_vdi(sr, {"name_label": "Suspend image", "type": "suspend",
                                              "virtual_size": o["memory_static_max"] + 16 * 1024 * 1024,
                                              "other_config": {}}, check=False)
        ops.halt(vm, state="Suspended")
        st.update("VM", vm, suspend_VDI=sus)
        return ""

    def resume_(vm, paused):
        o = st.get("VM", vm)
        sus = o["suspend_VDI"]
        st.update("VM", vm, power_state="Halted", suspend_VDI=NULL)
        ops.boot(vm, paused)
        if sus in st.objs["VDI"]:
            sim.storage.destroy_vdi(sus)
        return ""

    @add("VM.resume", V + [("start_paused", "b"), ("force", "b")])
    def resume(ctx, vm, paused, force):
        ops.check(vm, "resume")
        return resume_(vm, paused)

    @add("VM.resume_on", V + [("host", "ref:host"), ("start_paused", "b"), ("force", "b")])
    def resume_on(ctx, vm, host, paused, force):
        ops.check(vm, "resume_on")
        return resume_(vm, paused)

    add("VM.destroy", [("self", "ref:VM")])(lambda ctx, vm: ops.destroy(vm))
    add("VM.clone", V + [("new_name", "s")])(lambda ctx, vm, n: ops.clone(vm, n))
    add("VM.copy", V + [("new_name", "s"), ("sr", "ref?:SR")])(lambda ctx, vm, n, sr: ops.copy(vm, n, sr))
    add("VM.provision", V)(lambda ctx, vm: ops.provision(vm))
    add("VM.snapshot", V + [("new_name", "s"), ("ignore_vdis", "set:ref:VDI")], optional=1)(
        lambda ctx, vm, n, ignore=None: ops.snapshot(vm, n))
    add("VM.revert", [("snapshot", "ref:VM")])(lambda ctx, s: ops.revert(s))

    @add("VM.power_state_reset", V)
    def power_state_reset(ctx, vm):
        if st.get("VM", vm)["is_control_domain"]:
            raise XenAPIError("CANNOT_RESET_CONTROL_DOMAIN", vm)
        ops.halt(vm)
        return ""

    @add("VM.assert_operation_valid", [("self", "ref:VM"), ("op", "s")])
    def assert_op(ctx, vm, op):
        ops.check(vm, op)
        return ""

    add("VM.get_possible_hosts", V)(lambda ctx, vm: [sim.host_ref()])
    add("VM.assert_can_boot_here", [("self", "ref:VM"), ("host", "ref:host")])(lambda ctx, vm, h: "")

    @add("VM.get_allowed_VIF_devices", V, async_ok=False)
    def allowed_vif(ctx, vm):
        used = {o["device"] for o in st.objs["VIF"].values() if o["VM"] == vm}
        return [str(i) for i in range(7) if str(i) not in used]

    @add("VM.create", [("args", "rec")])
    def vm_create(ctx, rec):
        from .store import FIELD_MAPS
        fm = FIELD_MAPS["VM"]
        values = {}
        for k, v in rec.items():
            f = fm.get(k)
            if f is None or len(f) == 5 or k in ops.COPY_SKIP and k not in ("is_a_template", "suspend_VDI"):
                continue
            t = f[1].replace("ref:", "ref?:", 1) if f[1].startswith("ref:") else f[1]
            values[k] = coerce(v, t, k, st)
        values["metrics"] = st.create("VM_metrics", {"state": [], "install_time": now_dt()})
        return st.create("VM", values)

    # ---- VCPUs and memory
    def cpu_setter(field_op, check_fn):
        def fn(ctx, vm, value):
            o = ops.check(vm, field_op)
            check_fn(vm, o, value)
            return ""
        return fn

    def set_max(vm, o, n):
        if n < 1:
            raise XenAPIError("VALUE_NOT_SUPPORTED", "VCPUs_max", str(n), "value must be positive")
        if n < o["VCPUs_at_startup"]:
            raise XenAPIError("VALUE_NOT_SUPPORTED", "VCPUs_max", str(n),
                              "VCPUs_max must be greater than or equal to VCPUs_at_startup")
        cps = o["platform"].get("cores-per-socket")
        if cps and cps.isdigit() and int(cps) > 0 and n % int(cps):
            raise XenAPIError("VCPU_MAX_NOT_CORES_PER_SOCKET_MULTIPLE", str(n), cps)
        st.update("VM", vm, VCPUs_max=n)

    def set_startup(vm, o, n):
        if n < 1:
            raise XenAPIError("VALUE_NOT_SUPPORTED", "VCPUs_at_startup", str(n), "value must be positive")
        if n > o["VCPUs_max"]:
            raise XenAPIError("VALUE_NOT_SUPPORTED", "VCPUs_at_startup", str(n),
                              "value greater than VCPUs_max")
        st.update("VM", vm, VCPUs_at_startup=n)

    def set_live(vm, o, n):
        if n < 1 or n > o["VCPUs_max"]:
            raise XenAPIError("VALUE_NOT_SUPPORTED", "VCPU", str(n), "value outside [1, VCPUs_max]")
        st.update("VM", vm, VCPUs_at_startup=n)
        if o["metrics"] in st.objs["VM_metrics"]:
            st.update("VM_metrics", o["metrics"], VCPUs_number=n)

    add("VM.set_VCPUs_max", V + [("value", "i")])(cpu_setter("changing_VCPUs", set_max))
    add("VM.set_VCPUs_at_startup", [("self", "ref:VM"), ("value", "i")])(cpu_setter("changing_VCPUs", set_startup))
    add("VM.set_VCPUs_number_live", [("self", "ref:VM"), ("nvcpu", "i")])(
        cpu_setter("changing_VCPUs_live", set_live))

    def mem_check(smin, dmin, dmax, smax):
        if not (smin <= dmin <= dmax <= smax):
            raise XenAPIError("MEMORY_CONSTRAINT_VIOLATION",
                              "Memory limits must satisfy: static_min <= dynamic_min <= dynamic_max <= static_max")

    def mem_update(vm, op, **kw):
        o = ops.check(vm, op)
        cur = {k: o["memory_" + k] for k in ("static_min", "dynamic_min", "dynamic_max", "static_max")}
        cur.update(kw)
        mem_check(cur["static_min"], cur["dynamic_min"], cur["dynamic_max"], cur["static_max"])
        st.update("VM", vm, **{"memory_" + k: v for k, v in cur.items()})
        return ""

    add("VM.set_memory_limits", [("self", "ref:VM"), ("static_min", "i"), ("static_max", "i"),
                                  ("dynamic_min", "i"), ("dynamic_max", "i")])(
        lambda ctx, vm, smin, smax, dmin, dmax: mem_update(vm, "changing_memory_limits", static_min=smin,
                                                           static_max=smax, dynamic_min=dmin, dynamic_max=dmax))
    add("VM.set_memory", [("self", "ref:VM"), ("value", "i")])(
        lambda ctx, vm, v: mem_update(vm, "changing_memory_limits", static_max=v, dynamic_min=v, dynamic_max=v))
    # the range setters: xapi's name, the operation it takes, the limits it sets (from one value, or a pair)
    for name, op, limits in (("static_max", "changing_static_range", ("static_max",)),
                             ("static_min", "changing_static_range", ("static_min",)),
                             ("static_range", "changing_static_range", ("static_min", "static_max")),
                             ("dynamic_max", "changing_dynamic_range", ("dynamic_max",)),
                             ("dynamic_min", "changing_dynamic_range", ("dynamic_min",)),
                             ("dynamic_range", "changing_dynamic_range", ("dynamic_min", "dynamic_max"))):
        params = [("value", "i")] if len(limits) == 1 else [("min", "i"), ("max", "i")]
        add("VM.set_memory_" + name, [("self", "ref:VM")] + params)(
            lambda ctx, vm, *values, op=op, limits=limits: mem_update(vm, op, **dict(zip(limits, values))))
    add("VM.set_memory_target_live", [("self", "ref:VM"), ("target", "i")])(
        lambda ctx, vm, t: (st.update("VM", vm, memory_target=t), "")[1])

    @add("VM.set_HVM_shadow_multiplier", [("self", "ref:VM"), ("value", "f")])
    def shadow(ctx, vm, v):
        ops.check(vm, "changing_shadow_memory")
        st.update("VM", vm, HVM_shadow_multiplier=v)
        return ""

    @add("VM.set_is_a_template", [("self", "ref:VM"), ("value", "b")], async_ok=False)
    def set_template(ctx, vm, v):
        if v:
            ops.check(vm, "make_into_template")
        st.update("VM", vm, is_a_template=v)
        return ""

    @add("VM.set_suspend_VDI", [("self", "ref:VM"), ("value", "ref?:VDI")], async_ok=False)
    def set_suspend_vdi(ctx, vm, v):
        st.update("VM", vm, suspend_VDI=v)
        return ""

    # ---- VIFs
    from .inventory import random_mac
    import re
    mac_re = re.compile(r"^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$")
    VIF_FIELDS = {"device": "s", "network": "ref:network", "VM": "ref:VM", "MAC": "s", "MTU": "i",
                  "other_config": "map:s", "qos_algorithm_type": "s", "qos_algorithm_params": "map:s",
                  "locking_mode": "e:vif_locking_mode", "ipv4_allowed": "set:s", "ipv6_allowed": "set:s"}

    @add("VIF.create", [("args", "rec")])
    def vif_create(ctx, rec):
        values = coerce_record(rec, VIF_FIELDS, ("device", "network", "VM"), st)
        vm, dev = values["VM"], values["device"]
        if not dev.isdigit():
            raise XenAPIError("INVALID_DEVICE", dev)
        if any(o["VM"] == vm and o["device"] == dev for o in st.objs["VIF"].values()):
            raise XenAPIError("DEVICE_ALREADY_EXISTS", dev)
        mac = values.get("MAC", "")
        if mac:
            if not mac_re.match(mac):
                raise XenAPIError("MAC_INVALID", mac)
            values["MAC_autogenerated"] = False
        else:
            values["MAC"] = random_mac()
            values["MAC_autogenerated"] = True
        if "MTU" not in values:
            values["MTU"] = st.get("network", values["network"])["MTU"]
        values["allowed_operations"] = ["attach"]
        return st.create("VIF", values)

    def vif_running(vif):
        o = st.get("VIF", vif)
        ps = st.get("VM", o["VM"])["power_state"]
        if ps != "Running":
            raise XenAPIError("VM_BAD_POWER_STATE", o["VM"], "running", ps.lower())
        return o

    @add("VIF.plug", [("self", "ref:VIF")])
    def vif_plug(ctx, vif):
        if st.get("VIF", vif)["currently_attached"]:
            raise XenAPIError("DEVICE_ALREADY_ATTACHED", vif)
        vif_running(vif)
        st.update("VIF", vif, currently_attached=True)
        return ""

    def vif_unplug(ctx, vif):
        if not st.get("VIF", vif)["currently_attached"]:
            raise XenAPIError("DEVICE_ALREADY_DETACHED", vif)
        vif_running(vif)
        st.update("VIF", vif, currently_attached=False)
        return ""
    add("VIF.unplug", [("self", "ref:VIF")])(vif_unplug)
    add("VIF.unplug_force", [("self", "ref:VIF")])(vif_unplug)

    @add("VIF.destroy", [("self", "ref:VIF")])
    def vif_destroy(ctx, vif):
        if st.get("VIF", vif)["currently_attached"]:
            raise XenAPIError("DEVICE_ALREADY_ATTACHED", vif)
        st.delete("VIF", vif)
        return ""

    def vif_configure_ip(version):
        @add("VIF.configure_%s" % version, [("self", "ref:VIF"), ("mode", "e:vif_%s_configuration_mode" % version),
                                            ("address", "s"), ("gateway", "s")])
        def configure(ctx, vif, mode, address, gateway):
            st.update("VIF", vif, **{"%s_configuration_mode" % version: mode,
                                     "%s_addresses" % version: [address] if address else [],
                                     "%s_gateway" % version: gateway})
            return ""

    for version in ("ipv4", "ipv6"):
        vif_configure_ip(version)

    @add("network.destroy", [("self", "ref:network")])
    def net_destroy(ctx, net):
        vifs = [r for r, o in st.objs["VIF"].items() if o["network"] == net and o["currently_attached"]]
        if vifs:
            raise XenAPIError("NETWORK_CONTAINS_VIF", ",".join(vifs))
        pifs = [r for r, o in st.objs["PIF"].items() if o["network"] == net]
        if pifs:
            raise XenAPIError("NETWORK_CONTAINS_PIF", ",".join(pifs))
        st.delete("network", net)
        return ""

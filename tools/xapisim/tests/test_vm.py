"""VM lifecycle: every power transition allowed and refused, bootlock, templates,
clone/copy/provision/snapshot, consoles, VCPU and memory rules, VBD/VIF rules."""

import time

from conftest import failure


def new_vm(x, name="vm1"):
    tpl = x.VM.get_by_name_label("Debian Bookworm 12")[0]
    vm = x.VM.clone(tpl, name)
    x.VM.provision(vm)
    return vm


def state(x, vm):
    return x.VM.get_power_state(vm)


def test_transitions_allowed(x):
    vm = new_vm(x)
    assert state(x, vm) == "Halted"
    x.VM.start(vm, False, False)
    assert state(x, vm) == "Running"
    x.VM.pause(vm)
    assert state(x, vm) == "Paused"
    x.VM.unpause(vm)
    assert state(x, vm) == "Running"
    x.VM.suspend(vm)
    assert state(x, vm) == "Suspended"
    assert x.VM.get_suspend_VDI(vm) != "OpaqueRef:NULL"
    x.VM.resume(vm, False, False)
    assert state(x, vm) == "Running"
    assert x.VM.get_suspend_VDI(vm) == "OpaqueRef:NULL"
    dom1 = int(x.VM.get_domid(vm))
    x.VM.clean_reboot(vm)
    x.VM.hard_reboot(vm)
    assert state(x, vm) == "Running" and int(x.VM.get_domid(vm)) > dom1
    x.VM.clean_shutdown(vm)
    assert state(x, vm) == "Halted" and x.VM.get_domid(vm) == "-1"
    x.VM.start(vm, True, False)
    assert state(x, vm) == "Paused"
    x.VM.hard_shutdown(vm)
    assert state(x, vm) == "Halted"
    x.VM.start_on(vm, x.host.get_all()[0], False, False)
    x.VM.suspend(vm)
    x.VM.hard_shutdown(vm)                 # suspended -> halted
    assert state(x, vm) == "Halted"
    x.VM.start(vm, False, False)
    x.VM.shutdown(vm)
    assert state(x, vm) == "Halted"


def test_transitions_refused(x):
    vm = new_vm(x)
    halted = [("start", "halted")]
    assert failure(x.VM.clean_shutdown, vm) == ["VM_BAD_POWER_STATE", vm, "running", "halted"]
    assert failure(x.VM.hard_shutdown, vm) == ["VM_BAD_POWER_STATE", vm, "paused, suspended, running", "halted"]
    assert failure(x.VM.clean_reboot, vm) == ["VM_BAD_POWER_STATE", vm, "running", "halted"]
    assert failure(x.VM.hard_reboot, vm) == ["VM_BAD_POWER_STATE", vm, "paused, running", "halted"]
    assert failure(x.VM.pause, vm) == ["VM_BAD_POWER_STATE", vm, "running", "halted"]
    assert failure(x.VM.unpause, vm) == ["VM_BAD_POWER_STATE", vm, "paused", "halted"]
    assert failure(x.VM.suspend, vm) == ["VM_BAD_POWER_STATE", vm, "running", "halted"]
    assert failure(x.VM.resume, vm, False, False) == ["VM_BAD_POWER_STATE", vm, "suspended", "halted"]
    x.VM.start(vm, False, False)
    assert failure(x.VM.start, vm, False, False) == ["VM_BAD_POWER_STATE", vm, "halted", "running"]
    assert failure(x.VM.destroy, vm) == ["VM_BAD_POWER_STATE", vm, "halted, suspended", "running"]
    assert failure(x.VM.clone, vm, "c") == ["VM_BAD_POWER_STATE", vm, "halted", "running"]
    assert failure(x.VM.set_VCPUs_max, vm, "4") == ["VM_BAD_POWER_STATE", vm, "halted", "running"]
    assert failure(x.VM.set_memory_limits, vm, "1", "2", "2", "2") == [
        "VM_BAD_POWER_STATE", vm, "halted", "running"]
    x.VM.pause(vm)
    assert failure(x.VM.suspend, vm) == ["VM_BAD_POWER_STATE", vm, "running", "paused"]
    assert failure(x.VM.clean_shutdown, vm) == ["VM_BAD_POWER_STATE", vm, "running", "paused"]
    x.VM.unpause(vm)
    x.VM.suspend(vm)
    assert failure(x.VM.start, vm, False, False) == ["VM_BAD_POWER_STATE", vm, "halted", "suspended"]
    assert failure(x.VM.hard_reboot, vm) == ["VM_BAD_POWER_STATE", vm, "paused, running", "suspended"]


def test_bootlock(x):
    vm = new_vm(x)
    x.VM.set_blocked_operations(vm, {"start": ""})
    assert failure(x.VM.start, vm, False, False) == ["OPERATION_BLOCKED", vm, ""]
    assert "start" not in x.VM.get_allowed_operations(vm)
    x.VM.remove_from_blocked_operations(vm, "start")
    x.VM.add_to_blocked_operations(vm, "start", "rescue in progress")
    assert failure(x.VM.start, vm, False, False) == ["OPERATION_BLOCKED", vm, "rescue in progress"]
    # blocked_operations is checked before the power state
    x.VM.add_to_blocked_operations(vm, "clean_shutdown", "no")
    assert failure(x.VM.clean_shutdown, vm) == ["OPERATION_BLOCKED", vm, "no"]
    x.VM.set_blocked_operations(vm, {})
    x.VM.start(vm, False, False)
    assert state(x, vm) == "Running"


def test_templates(x):
    tpl = x.VM.get_by_name_label("Debian Bookworm 12")[0]
    assert failure(x.VM.start, tpl, False, False) == ["VM_IS_TEMPLATE", tpl, "start"]
    assert failure(x.VM.destroy, tpl) == ["VM_IS_TEMPLATE", tpl, "destroy"]
    vm = x.VM.clone(tpl, "notyet")
    assert x.VM.get_is_a_template(vm) is True
    assert failure(x.VM.start, vm, False, False) == ["VM_IS_TEMPLATE", vm, "start"]
    x.VM.provision(vm)
    assert x.VM.get_is_a_template(vm) is False
    assert failure(x.VM.provision, vm) == ["ONLY_PROVISION_TEMPLATE"]
    vbds = [x.VBD.get_record(b) for b in x.VM.get_VBDs(vm)]
    assert len(vbds) == 1 and vbds[0]["userdevice"] == "0" and vbds[0]["bootable"]
    vdi = x.VDI.get_record(vbds[0]["VDI"])
    assert vdi["virtual_size"] == str(10 * 1024 ** 3)


def test_copy_and_clone_disks(sim, x):
    vm = new_vm(x, "src")
    sr = x.pool.get_default_SR(x.pool.get_all()[0])
    cp = x.VM.copy(vm, "copied", sr)
    cl = x.VM.clone(vm, "cloned")
    src_vdi = x.VBD.get_VDI(x.VM.get_VBDs(vm)[0])
    cp_vdi = x.VBD.get_VDI(x.VM.get_VBDs(cp)[0])
    cl_vdi = x.VBD.get_VDI(x.VM.get_VBDs(cl)[0])
    assert len({src_vdi, cp_vdi, cl_vdi}) == 3
    assert "vhd-parent" not in x.VDI.get_sm_config(cp_vdi)
    # a linked clone shares a hidden base with the source
    assert x.VDI.get_sm_config(cl_vdi)["vhd-parent"] == x.VDI.get_sm_config(src_vdi)["vhd-parent"]
    assert x.VM.get_is_a_template(cl) is False


def test_consoles_on_start(sim, x):
    vm = new_vm(x)
    assert x.VM.get_consoles(vm) == []
    x.VM.start(vm, False, False)
    cons = x.VM.get_consoles(vm)
    assert len(cons) == 1
    rec = x.console.get_record(cons[0])
    assert rec["protocol"] == "rfb"
    assert rec["location"] == "https://127.0.0.1/console?uuid=%s" % rec["uuid"]
    x.VM.hard_shutdown(vm)
    assert x.VM.get_consoles(vm) == []


def test_guest_metrics(x):
    vm = new_vm(x)
    net = x.network.get_by_name_label("Pool-wide network associated with eth0")[0]
    vif = x.VIF.create({"device": "0", "network": net, "VM": vm, "MAC": "", "MTU": "1500",
                        "other_config": {}, "qos_algorithm_type": "", "qos_algorithm_params": {}})
    assert x.VIF.get_MAC_autogenerated(vif) is True and len(x.VIF.get_MAC(vif)) == 17
    assert x.VM.get_guest_metrics(vm) == "OpaqueRef:NULL"
    x.VM.start(vm, False, False)
    gm = x.VM_guest_metrics.get_record(x.VM.get_guest_metrics(vm))
    assert "0/ip" in gm["networks"]
    assert x.VIF.get_currently_attached(vif) is True
    m = x.VM_metrics.get_record(x.VM.get_metrics(vm))
    assert m["VCPUs_number"] == x.VM.get_VCPUs_at_startup(vm)


def test_clean_shutdown_ignored_then_hard(sim, x):
    vm = new_vm(x)
    x.VM.start(vm, False, False)
    uuid = x.VM.get_uuid(vm)
    sim.sim("guest_ignores_shutdown", uuid, True)
    t0 = time.time()
    assert failure(x.VM.clean_shutdown, vm) == ["VM_SHUTDOWN_TIMEOUT", vm, "0.5"]
    assert time.time() - t0 >= 0.4
    assert state(x, vm) == "Running"
    x.VM.hard_shutdown(vm)
    assert state(x, vm) == "Halted"
    x.VM.start(vm, False, False)
    x.VM.shutdown(vm)                     # clean, then hard
    assert state(x, vm) == "Halted"
    sim.sim("guest_ignores_shutdown", uuid, False)


def test_destroy_keeps_vdis(x):
    vm = new_vm(x)
    vbd = x.VM.get_VBDs(vm)[0]
    vdi = x.VBD.get_VDI(vbd)
    x.VM.destroy(vm)
    assert failure(x.VBD.get_record, vbd)[0] == "HANDLE_INVALID"
    assert x.VDI.get_record(vdi)["VBDs"] == []


def test_vcpus_and_memory(x):
    vm = new_vm(x)
    assert failure(x.VM.set_VCPUs_at_startup, vm, "4") == [
        "VALUE_NOT_SUPPORTED", "VCPUs_at_startup", "4", "value greater than VCPUs_max"]
    x.VM.set_VCPUs_max(vm, "4")
    x.VM.set_VCPUs_at_startup(vm, "4")
    assert x.VM.get_VCPUs_max(vm) == "4" and x.VM.get_VCPUs_at_startup(vm) == "4"
    x.VM.set_memory_limits(vm, str(2 ** 29), str(2 ** 31), str(2 ** 31), str(2 ** 31))
    assert x.VM.get_memory_static_max(vm) == str(2 ** 31)
    d = failure(x.VM.set_memory_limits, vm, str(2 ** 31), str(2 ** 30), str(2 ** 30), str(2 ** 30))
    assert d[0] == "MEMORY_CONSTRAINT_VIOLATION"
    x.VM.start(vm, False, False)
    x.VM.set_VCPUs_number_live(vm, "2")
    assert x.VM_metrics.get_VCPUs_number(x.VM.get_metrics(vm)) == "2"
    x.VM.set_memory_dynamic_range(vm, str(2 ** 30), str(2 ** 31))


def test_vbd_rules(sim, x):
    vm = new_vm(x)
    sr = x.pool.get_default_SR(x.pool.get_all()[0])
    vdi = x.VDI.create({"name_label": "data", "name_description": "", "SR": sr, "virtual_size": str(2 ** 24),
                        "type": "user", "sharable": False, "read_only": False, "other_config": {}})
    rec = {"VM": vm, "VDI": vdi, "userdevice": "0", "bootable": False, "mode": "RW", "type": "Disk",
           "empty": False, "other_config": {}, "qos_algorithm_type": "", "qos_algorithm_params": {}}
    assert failure(x.VBD.create, rec) == ["DEVICE_ALREADY_EXISTS", "0"]
    rec["userdevice"] = "autodetect"
    vbd = x.VBD.create(rec)
    assert x.VBD.get_userdevice(vbd) == "1"
    assert failure(x.VBD.plug, vbd) == ["VM_BAD_POWER_STATE", vm, "running", "halted"]
    x.VM.start(vm, False, False)
    assert x.VBD.get_currently_attached(vbd) is True
    assert x.VBD.get_device(vbd) == "xvdb"
    assert failure(x.VBD.plug, vbd) == ["DEVICE_ALREADY_ATTACHED", vbd]
    assert failure(x.VDI.destroy, vdi) == ["VDI_IN_USE", vdi, "destroy"]
    assert failure(x.VBD.destroy, vbd) == ["DEVICE_ALREADY_ATTACHED", vbd]
    x.VBD.unplug(vbd)
    assert failure(x.VBD.unplug, vbd) == ["DEVICE_ALREADY_DETACHED", vbd]
    x.VBD.plug(vbd)
    x.VBD.unplug_force(vbd)
    x.VBD.destroy(vbd)
    allowed = x.VM.get_allowed_VBD_devices(vm)
    assert "0" not in allowed and "1" in allowed
    # CD drive, empty, insert/eject
    cd = x.VBD.create({"VM": vm, "VDI": "OpaqueRef:NULL", "userdevice": "3", "bootable": False, "mode": "RO",
                       "type": "CD", "empty": True, "other_config": {}, "qos_algorithm_type": "",
                       "qos_algorithm_params": {}})
    iso = x.VDI.get_by_name_label("guest-tools.iso")[0]
    assert failure(x.VBD.eject, cd) == ["VBD_IS_EMPTY", cd]
    x.VBD.insert(cd, iso)
    assert failure(x.VBD.insert, cd, iso) == ["VBD_NOT_EMPTY", cd]
    x.VBD.eject(cd)
    x.VDI.destroy(vdi)


def test_vif_rules(x):
    vm = new_vm(x)
    net = x.network.get_by_name_label("Pool-wide network associated with eth0")[0]
    base = {"device": "0", "network": net, "VM": vm, "MAC": "aa:bb:cc:dd:ee:ff", "MTU": "1500",
            "other_config": {}, "qos_algorithm_type": "", "qos_algorithm_params": {}}
    vif = x.VIF.create(base)
    assert x.VIF.get_MAC(vif) == "aa:bb:cc:dd:ee:ff" and x.VIF.get_MAC_autogenerated(vif) is False
    assert failure(x.VIF.create, base) == ["DEVICE_ALREADY_EXISTS", "0"]
    assert failure(x.VIF.create, dict(base, device="1", MAC="zz")) == ["MAC_INVALID", "zz"]
    assert failure(x.VIF.plug, vif) == ["VM_BAD_POWER_STATE", vm, "running", "halted"]
    assert x.VM.get_allowed_VIF_devices(vm)[0] == "1"
    x.VM.start(vm, False, False)
    assert failure(x.VIF.plug, vif) == ["DEVICE_ALREADY_ATTACHED", vif]
    x.VIF.unplug(vif)
    x.VIF.destroy(vif)


def test_vm_snapshot_and_revert(x):
    vm = new_vm(x)
    x.VM.start(vm, False, False)
    snap = x.VM.snapshot(vm, "snap1")
    rec = x.VM.get_record(snap)
    assert rec["is_a_snapshot"] and rec["is_a_template"] and rec["snapshot_of"] == vm
    assert snap in x.VM.get_snapshots(vm)
    svdi = x.VBD.get_VDI(rec["VBDs"][0])
    assert x.VDI.get_is_a_snapshot(svdi) is True
    assert failure(x.VM.start, snap, False, False) == ["VM_IS_SNAPSHOT", snap, "start"]
    x.VM.revert(snap)
    assert state(x, vm) == "Halted"
    assert len(x.VM.get_VBDs(vm)) == 1


def test_dom0_protected(x):
    dom0 = [r for r, v in x.VM.get_all_records().items() if v["is_control_domain"]][0]
    assert failure(x.VM.hard_shutdown, dom0) == ["OPERATION_NOT_ALLOWED", "Operations on domain 0 are not allowed"]

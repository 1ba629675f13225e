"""The XenAPI call sequence community.general.xenserver_guest makes to deploy a VM from a
built-in template, power it on and read it back (a stand-in until the foundation runs the
real module against the simulator)."""

import time


def test_xenserver_guest_sequence(session, x):
    pool = x.pool.get_all()[0]
    default_sr = x.pool.get_default_SR(pool)
    host = x.session.get_this_host(session._session)
    version = [int(v) for v in x.host.get_software_version(host)["product_version"].split(".")]
    assert version[0] >= 7
    assert x.VM.get_by_name_label("cg-vm") == []
    tpl = x.VM.get_by_name_label("Debian Bookworm 12")[0]
    assert x.VM.get_power_state(tpl).lower() == "halted"
    sr = x.SR.get_by_name_label("Local storage")[0]
    vm = x.VM.copy(tpl, "cg-vm", sr)
    x.VM.set_name_description(vm, "")
    tpl_oc = x.VM.get_other_config(tpl)
    if tpl_oc.get("default_template"):
        oc = x.VM.get_other_config(vm)
        oc.pop("disks", None)
        x.VM.set_other_config(vm, oc)
    x.VM.provision(vm)
    params = x.VM.get_record(vm)
    assert params["is_a_template"] is False and params["is_a_snapshot"] is False
    assert params["affinity"] == "OpaqueRef:NULL"
    assert params["VBDs"] == []                        # its disks key was removed before provision
    allowed = x.VM.get_allowed_VBD_devices(vm)
    vdi = x.VDI.create({"name_label": "cg-vm-0", "name_description": "", "SR": default_sr,
                        "virtual_size": str(1024 ** 3), "type": "user", "sharable": False, "read_only": False,
                        "other_config": {}})
    x.VBD.create({"VM": vm, "VDI": vdi, "userdevice": allowed[0], "bootable": False, "mode": "RW",
                  "type": "Disk", "empty": False, "other_config": {}, "qos_algorithm_type": "",
                  "qos_algorithm_params": {}})
    cd = x.VBD.create({"VM": vm, "VDI": "OpaqueRef:NULL", "userdevice": "3", "bootable": False, "mode": "RO",
                       "type": "CD", "empty": True, "other_config": {}, "qos_algorithm_type": "",
                       "qos_algorithm_params": {}})
    assert x.VBD.get_empty(cd) is True
    x.VBD.insert(cd, x.VDI.get_by_name_label("guest-tools.iso")[0])
    net = x.network.get_by_name_label("Pool-wide network associated with eth0")[0]
    vifdev = x.VM.get_allowed_VIF_devices(vm)[0]
    vif = x.VIF.create({"device": vifdev, "network": net, "VM": vm, "MAC": "", "MTU": x.network.get_MTU(net),
                        "other_config": {}, "qos_algorithm_type": "", "qos_algorithm_params": {}})
    x.VM.remove_from_xenstore_data(vm, "vm-data/networks/0/name")
    x.VM.add_to_xenstore_data(vm, "vm-data/networks/0/mac", x.VIF.get_MAC(vif))
    x.VM.set_VCPUs_max(vm, "2")
    x.VM.set_VCPUs_at_startup(vm, "2")
    x.VM.remove_from_platform(vm, "cores-per-socket")
    x.VM.add_to_platform(vm, "cores-per-socket", "2")
    x.VM.set_memory_limits(vm, str(512 * 1024 ** 2), str(1024 ** 3), str(1024 ** 3), str(1024 ** 3))
    x.VM.add_to_other_config(vm, "folder", "/tests")
    x.VM.set_affinity(vm, host)
    x.VM.set_HVM_boot_params(vm, {"order": "ndc"})
    x.VM.start(vm, False, False)
    rec = x.VM.get_record(vm)
    assert rec["power_state"] == "Running"
    gm = x.VM_guest_metrics.get_record(rec["guest_metrics"])
    assert "0/ip" in gm["networks"]
    for b in rec["VBDs"]:
        vbd = x.VBD.get_record(b)
        if vbd["type"] == "Disk":
            assert x.SR.get_record(x.VDI.get_record(vbd["VDI"])["SR"])["name_label"] == "Local storage"
            assert vbd["device"] == "xvda"
    task = x.Async.VM.clean_reboot(vm)
    while x.task.get_status(task).lower() == "pending":
        time.sleep(0.05)
    assert x.task.get_status(task) == "success"
    x.task.destroy(task)
    x.VM.hard_shutdown(vm)
    disks = [x.VBD.get_VDI(b) for b in x.VM.get_VBDs(vm) if x.VBD.get_type(b) == "Disk"]
    x.VM.destroy(vm)
    for d in disks:
        x.VDI.destroy(d)

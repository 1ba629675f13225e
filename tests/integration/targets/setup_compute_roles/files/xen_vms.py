"""XenAPI test VMs, as the targets make and drop them on the simulator pools.

Shared by evacuate_test.py (on its PYTHONPATH through with_beds.sh) and xen_vdi_resize's files/bed.py
(which puts this directory on its path), xen_rescue_test.py and xen_resize_test.py.
"""

from roles_lib import disk


def destroy_vm(x, vm):
    """The VM gone with every disk it has, whatever its power state (``x``: a session's ``xenapi``)."""
    if x.VM.get_power_state(vm) != "Halted":
        x.VM.hard_shutdown(vm)
    for vbd in x.VM.get_VBDs(vm):
        vdi = x.VBD.get_VDI(vbd)
        if vdi != "OpaqueRef:NULL":
            x.VDI.destroy(vdi)
    x.VM.destroy(vm)


def boot_filled(xen_vm, check, name, template, network, mac):
    """A running instance on pool A from ``template`` (``xen_vm``: the target's xen_vm module run) with
    4 MiB of files written on its root disk: their sum, which every later step must still find."""
    booted = xen_vm(name=name, template=template, vcpus=1, memory_mb=256, state="running",
                    vifs=[dict(network=network, mac=mac)])
    check(not booted.get("failed"), "the instance boots", booted.get("msg"))
    return disk("xen-fill", "A", name, 4)["sum"]

#!/usr/bin/env python
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The VHD side of the xen_migrate target, read with the simulator's VHD library (tools/xapisim/vhd).

    xen_chain.py layer <pool> <vm uuid>    data written into the VM's disks, a VM snapshot, more data
    xen_chain.py digest <pool> <vm uuid>   JSON: a digest of each disk read through its chain (the VM's
                                           and its snapshots'), and the chain files with whether they exist
    xen_chain.py named <pool> <prefix>     JSON: uuids of the VMs and VDIs whose name starts with prefix
    xen_chain.py destroy <pool> <name>     the VMs of that name, their snapshots and disks (clean-up)
    xen_chain.py mark <pool> <vm uuid>     the operation lock of a xen_snapshot at work (another process) on it
    xen_chain.py unmark <pool> <vm uuid>   that mark removed
    xen_chain.py memory <pool> <host>=<MiB>  the simulator's free memory of a host (by name label)

<pool> is A or B: XENAPI_POOL_<pool>_URL, _PASSWORD, _SR_DIR from the environment (beds_env).
"""

import hashlib
import json
import os
import ssl
import sys
import time

import XenAPI

sys.path.insert(0, os.environ["XM_TOOLS_DIR"])
from xapisim.vhd import VHD  # noqa: E402  pylint: disable=wrong-import-position

BLOCK = 2 * 1024 * 1024
TASK_KEY = "novaops_task_state"      # the operation lock (module_utils/common/operation_lock.py)


def session(pool):
    env = os.environ
    ctx = ssl.create_default_context(cafile=env["XENAPI_CA_PATH"])
    import xmlrpc.client
    s = XenAPI.Session(env["XENAPI_POOL_%s_URL" % pool], transport=xmlrpc.client.SafeTransport(context=ctx))
    s.login_with_password("root", env["XENAPI_POOL_%s_PASSWORD" % pool], "1.0", "xen_migrate-target")
    return s


def disks(x, vm):
    """(label, vdi record) of the VM's disks and of its snapshots'."""
    out = []
    for v in [vm] + x.VM.get_snapshots(vm):
        kind = "snapshot" if x.VM.get_is_a_snapshot(v) else "vm"
        for vbd in x.VM.get_VBDs(v):
            rec = x.VBD.get_record(vbd)
            if rec["type"] == "Disk" and not rec["empty"]:
                out.append(("%s:%s" % (kind, rec["userdevice"]), x.VDI.get_record(rec["VDI"])))
    return sorted(out, key=lambda item: item[0])


def digest(path):
    """sha256 over the virtual size and every block any file of the chain holds, read through the chain."""
    h = hashlib.sha256()
    with VHD.open(path) as v:
        blocks = set()
        for f in v.chain():
            blocks.update(f.allocated_blocks())
        h.update(str(v.virtual_size).encode())
        for i in sorted(blocks):
            h.update(b"%d" % i)
            h.update(v.read(i * BLOCK, BLOCK))
        files = [os.path.basename(f.path) for f in v.chain()]
    return h.hexdigest(), files


def main(cmd, pool, arg):
    s = session(pool)
    x = s.xenapi
    sr_dir = os.environ["XENAPI_POOL_%s_SR_DIR" % pool]
    try:
        if cmd == "destroy":
            for vm in x.VM.get_by_name_label(arg):
                vdis = [rec for _l, rec in disks(x, vm)]
                for snap in x.VM.get_snapshots(vm):
                    x.VM.destroy(snap)
                if x.VM.get_power_state(vm) != "Halted":
                    x.VM.hard_shutdown(vm)
                x.VM.destroy(vm)
                for rec in vdis:
                    x.VDI.destroy(x.VDI.get_by_uuid(rec["uuid"]))
            return {}
        if cmd == "named":
            return {"vms": sorted(r["uuid"] for r in x.VM.get_all_records().values() if r["name_label"].startswith(arg)),
                    "vdis": sorted(r["uuid"] for r in x.VDI.get_all_records().values()
                                   if r["name_label"].startswith(arg))}
        if cmd == "memory":
            name, mib = arg.split("=")
            host = x.host.get_by_name_label(name)[0]
            x.sim.host_memory_free(x.host.get_uuid(host), str(int(mib) * 1024 * 1024))
            return {}
        vm = x.VM.get_by_uuid(arg)
        if cmd == "mark":
            x.VM.add_to_other_config(vm, TASK_KEY, json.dumps(
                {"operation": "xen_snapshot", "owner": "hv9:4242", "started_at": time.strftime(
                    "%Y-%m-%dT%H:%M:%SZ", time.gmtime())}))
            return {}
        if cmd == "unmark":
            x.VM.remove_from_other_config(vm, TASK_KEY)
            return {}
        if cmd == "layer":
            for n, (_label, rec) in enumerate(disks(x, vm)):
                with VHD.open(os.path.join(sr_dir, rec["uuid"] + ".vhd"), writable=True) as v:
                    v.write(BLOCK + 4096, bytes([n + 1]) * 300000)
            x.VM.snapshot(vm, arg + "-snap")
            for n, (label, rec) in enumerate(disks(x, vm)):
                if label.startswith("vm:"):
                    with VHD.open(os.path.join(sr_dir, rec["uuid"] + ".vhd"), writable=True) as v:
                        v.write(3 * BLOCK + 512, bytes([n + 7]) * 5000)
            return {}
        out = {"digests": {}, "files": {}}
        for label, rec in disks(x, vm):
            out["digests"][label], files = digest(os.path.join(sr_dir, rec["uuid"] + ".vhd"))
            for name in files:
                out["files"][name] = os.path.exists(os.path.join(sr_dir, name))
        out["host"] = x.host.get_name_label(x.VM.get_resident_on(vm))
        out["power_state"] = x.VM.get_power_state(vm)
        out["task"] = x.VM.get_other_config(vm).get(TASK_KEY)
        return out
    finally:
        s.xenapi.session.logout()


if __name__ == "__main__":
    print(json.dumps(main(*sys.argv[1:4])))

"""Snapshot a VM through the XenAPI SDK (no module of the collection snapshots VMs yet).

usage: snapshot.py <vm-uuid> <snapshot-name>   prints the snapshot's uuid
       snapshot.py --destroy <snapshot-uuid>    destroys the snapshot and its disks
Connection from XENAPI_HTTP_URL, XENAPI_USERNAME, XENAPI_PASSWORD.
"""
import os
import sys

import XenAPI

session = XenAPI.Session(os.environ["XENAPI_HTTP_URL"])
session.login_with_password(os.environ.get("XENAPI_USERNAME", "root"), os.environ["XENAPI_PASSWORD"], "1.0", "test")
try:
    x = session.xenapi
    if sys.argv[1] == "--destroy":
        snap = x.VM.get_by_uuid(sys.argv[2])
        vdis = [x.VBD.get_VDI(vbd) for vbd in x.VM.get_VBDs(snap)]
        x.VM.destroy(snap)
        for vdi in vdis:
            if vdi != "OpaqueRef:NULL":
                x.VDI.destroy(vdi)
    else:
        snap = x.VM.snapshot(x.VM.get_by_uuid(sys.argv[1]), sys.argv[2])
        print(x.VM.get_uuid(snap))
finally:
    session.xenapi.session.logout()

# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What a killed xen_vdi_resize leaves behind, found by its tags, and cleared once its stale mark is.

A shrink tags its work: the clone of the source VDI (CLONE_TAG = the source's uuid), the new
smaller VDI (TAG_FROM = the source's uuid; it is the result once the source's TAG_TO names it)
and every VBD it plugs into the helper VM (xen_helper_vm.HELPER_TAG).  A run killed half way
leaves those VBDs plugged and the clone and the new VDI behind; the source is never written.
"""

from __future__ import annotations

from ansible_collections.novaops.compute.plugins.module_utils.xenapi.helper_vm import HELPER_TAG, release_vbd
from ansible_collections.novaops.compute.plugins.module_utils.xenapi.markers import RESIZE_CLONE_OF, RESIZED_FROM, RESIZED_TO
from ansible_collections.novaops.compute.plugins.module_utils.xenapi.session import NULL_REF

TAG_TO, TAG_FROM, CLONE_TAG = RESIZED_TO, RESIZED_FROM, RESIZE_CLONE_OF


def _sources(conn, cls, ref, vdis):
    """The VDIs a resize of this VM (or VDI) works from: its disks, and the originals of resized ones."""
    if cls == "VDI":
        refs = {ref}
    else:
        refs = set()
        for vbd in conn.call("VM.get_VBDs", ref):
            vdi = conn.call("VBD.get_VDI", vbd)
            if vdi != NULL_REF and vdi in vdis:
                refs.add(vdi)
    by_uuid = dict((rec["uuid"], r) for r, rec in vdis.items())
    for vdi in list(refs):
        origin = (vdis[vdi].get("other_config") or {}).get(TAG_FROM)
        if origin in by_uuid:
            refs.add(by_uuid[origin])
    return refs


def _used_by_a_vm(conn, vdi):
    """Whether a VM other than the helper has the VDI (the result of a finished resize)."""
    for vbd in vdi.get("VBDs") or []:
        if HELPER_TAG not in (conn.call("VBD.get_other_config", vbd) or {}):
            return True
    return False


def leftovers(conn, cls, ref):
    """(source VDI refs, work VDI refs) of the resizes of a VM or VDI, and all VDI records."""
    vdis = conn.call("VDI.get_all_records")
    sources = _sources(conn, cls, ref, vdis)
    uuids = set(vdis[s]["uuid"] for s in sources)
    results = set((vdis[s].get("other_config") or {}).get(TAG_TO) for s in sources)
    work = []
    for vdi, rec in sorted(vdis.items()):
        other = rec.get("other_config") or {}
        if vdi in sources:
            continue
        if other.get(CLONE_TAG) in uuids:
            work.append(vdi)
        elif other.get(TAG_FROM) in uuids and rec["uuid"] not in results and not _used_by_a_vm(conn, rec):
            work.append(vdi)
    return sorted(sources), work, vdis


def clean(conn, cls, ref):
    """Unplug and destroy the helper VM's VBDs on these disks and destroy the work VDIs; what was done."""
    sources, work, vdis = leftovers(conn, cls, ref)
    done = []
    for vdi in sources + work:
        for vbd in vdis[vdi].get("VBDs") or []:
            record = conn.call("VBD.get_record", vbd)
            purpose = (record.get("other_config") or {}).get(HELPER_TAG)
            if purpose is not None:
                release_vbd(conn, vbd, record.get("currently_attached"))
                done.append("unplugged and destroyed the helper VM's VBD %s (%s) of VDI %s"
                            % (record.get("uuid"), purpose, vdis[vdi]["uuid"]))
    for vdi in work:
        conn.call("VDI.destroy", vdi)
        done.append("destroyed VDI %s (%s)" % (vdis[vdi]["uuid"], vdis[vdi].get("name_label")))
    return done


# for XenOperationLock: what clears the leftovers of a killed run, by its operation
STALE_CLEANERS = {"xen_vdi_resize": clean}

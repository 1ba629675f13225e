# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Cached Glance images in an SR (Nova's ``cache_images`` on XenAPI): which VDI holds an image,
and who still depends on it.

The cached image is the leaf of the chain the dom0 ``glance.download_vhd`` imported, marked in
its ``other_config`` with the image id and checksum.  An instance's root is a ``VDI.clone`` of
it: the clone turns the cached leaf's data into a hidden base copy with two leaf children (the
cached VDI and the clone), so a clone is not a child of the cached VDI but of one of its
ancestors.  Whoever shares an ancestor with the cached VDI depends on the image's data.
"""

from __future__ import annotations

from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError
from ansible_collections.novaops.compute.plugins.module_utils.common.uuids import UUID_RE
from ansible_collections.novaops.compute.plugins.module_utils.xenapi.markers import (
    IMAGE_CACHED_AT, IMAGE_CHECKSUM, IMAGE_ID)
from ansible_collections.novaops.compute.plugins.module_utils.xenapi.session import NULL_REF
from ansible_collections.novaops.compute.plugins.module_utils.xenapi.vhd_chain import MAX_DEPTH, vhd_parent


def find_sr(conn, ident, option="sr"):
    """``(ref, record)`` of the SR named or with the UUID ``ident``; the pool's default SR when it is empty."""
    if ident:
        if UUID_RE.match(ident):
            return conn.find("SR", uuid=ident, what="SR")
        return conn.find("SR", name=ident, what="SR")
    pool = conn.call("pool.get_all")[0]
    ref = conn.call("pool.get_default_SR", pool)
    if not ref or ref == NULL_REF:
        raise NovaopsError("The pool has no default SR; give %s." % option)
    return ref, conn.call("SR.get_record", ref)


def cached_images(vdis, sr_ref, image_id=None):
    """``[(ref, record)]`` of the cached image VDIs of an SR (of one image when ``image_id``),
    oldest first; ``vdis`` is every VDI record (``VDI.get_all_records``)."""
    found = [(ref, rec) for ref, rec in vdis.items()
             if rec.get("SR") == sr_ref and (rec.get("other_config") or {}).get(IMAGE_ID)
             and (image_id is None or rec["other_config"][IMAGE_ID] == image_id)]
    return sorted(found, key=lambda item: (item[1]["other_config"].get(IMAGE_CACHED_AT, ""), item[1]["uuid"]))


def ancestry(by_uuid, uuid):
    """The UUIDs from ``uuid`` up to its base (as far as the SR's records go), itself first."""
    chain = [uuid]
    while len(chain) < MAX_DEPTH:
        parent = vhd_parent(by_uuid[chain[-1]][1]) if chain[-1] in by_uuid else None
        if not parent or parent in chain:
            break
        chain.append(parent)
    return chain


def dependents(vdis, cache_ref):
    """``[(ref, record)]`` of the visible VDIs (clones, their snapshots, anything a VM could use) whose
    chain meets the cached image's chain: they read the image's data."""
    cache = vdis[cache_ref]
    by_uuid = dict((rec["uuid"], (ref, rec)) for ref, rec in vdis.items() if rec.get("SR") == cache.get("SR"))
    image_chain = set(ancestry(by_uuid, cache["uuid"]))
    out = []
    for uuid, (ref, rec) in sorted(by_uuid.items()):
        if uuid in image_chain or not rec.get("managed", True):
            continue
        if image_chain & set(ancestry(by_uuid, uuid)):
            out.append((ref, rec))
    return out


def users(conn, vdis_depending):
    """A sentence-ready list of who uses those VDIs: ``VM <name> (<uuid>)`` per VM (snapshots and
    suspended VMs too), ``VDI <uuid>`` for a dependent VDI no VM has."""
    names = []
    for ref, rec in vdis_depending:
        vms = []
        for vbd in rec.get("VBDs") or []:
            try:
                vm = conn.call("VBD.get_VM", vbd)
            except Exception:  # noqa: BLE001 - a VBD destroyed meanwhile uses nothing
                continue
            if vm and vm != NULL_REF:
                vm_rec = conn.call("VM.get_record", vm)
                kind = "snapshot " if vm_rec.get("is_a_snapshot") else ""
                state = vm_rec.get("power_state", "").lower()
                vms.append("VM %s%s (%s, %s)" % (kind, vm_rec.get("name_label"), vm_rec.get("uuid"), state))
        names.extend(vms or ["VDI %s (%s)" % (rec["uuid"], rec.get("name_label") or "no name")])
    return sorted(set(names))


def cache_facts(ref, rec):
    """What a module returns of a cached image VDI."""
    oc = rec.get("other_config") or {}
    return dict(vdi_uuid=rec["uuid"], vdi_ref=ref, image_id=oc.get(IMAGE_ID), checksum=oc.get(IMAGE_CHECKSUM),
                cached_at=oc.get(IMAGE_CACHED_AT), virtual_size=int(rec.get("virtual_size") or 0),
                physical_utilisation=int(rec.get("physical_utilisation") or 0),
                parent=vhd_parent(rec), name_label=rec.get("name_label"))

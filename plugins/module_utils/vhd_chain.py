# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A VDI's VHD chain, walked the way Nova did: ``sm_config['vhd-parent']`` from the leaf up.

Shared by vhd_migrate and xen_snapshot.  Also where an SR lives on its host (the PBD's
``device_config['path']``, how Nova found ``sr_path``) and which host runs its plugins.
"""

from __future__ import annotations

from ansible_collections.novaops.compute.plugins.module_utils.errors import NovaopsError
from ansible_collections.novaops.compute.plugins.module_utils.xenapi import NULL_REF, XenAPIError

MAX_DEPTH = 64


def vdi_chain(conn, vdi_ref, record=None):
    """``[(ref, record), ...]`` from the VDI (leaf) to its base, following vhd-parent."""
    record = record or conn.call("VDI.get_record", vdi_ref)
    chain = [(vdi_ref, record)]
    seen = {record["uuid"]}
    while True:
        parent_uuid = (record.get("sm_config") or {}).get("vhd-parent")
        if not parent_uuid:
            return chain
        if parent_uuid in seen or len(chain) >= MAX_DEPTH:
            raise NovaopsError("The VHD chain of VDI %s loops or is deeper than %d at %s."
                               % (chain[0][1]["uuid"], MAX_DEPTH, parent_uuid))
        try:
            ref = conn.call("VDI.get_by_uuid", parent_uuid)
        except XenAPIError as exc:
            raise NovaopsError("VDI %s names parent %s, which its SR does not know (an SR.scan may "
                               "help)." % (record["uuid"], parent_uuid), xenapi_error=exc.facts["xenapi_error"])
        record = conn.call("VDI.get_record", ref)
        seen.add(parent_uuid)
        chain.append((ref, record))


def chain_uuids(chain):
    return [rec["uuid"] for _ref, rec in chain]


def chain_bytes(chain):
    return sum(int(rec.get("physical_utilisation") or 0) for _ref, rec in chain)


def sr_location(conn, sr_ref):
    """``(path, host_ref)`` of an SR: its PBD's device_config path and the host to call plugins on."""
    pbds = conn.call("SR.get_PBDs", sr_ref)
    for pbd in pbds:
        rec = conn.call("PBD.get_record", pbd)
        path = (rec.get("device_config") or {}).get("path")
        if path:
            return path, rec["host"]
    sr_uuid = conn.call("SR.get_uuid", sr_ref)
    hosts = conn.call("host.get_all")
    if pbds and hosts:
        rec = conn.call("PBD.get_record", pbds[0])
        return "/var/run/sr-mount/%s" % sr_uuid, rec.get("host") or hosts[0]
    raise NovaopsError("SR %s has no PBD: it is not plugged into any host." % sr_uuid)


def default_sr(conn):
    pool = conn.call("pool.get_all")[0]
    sr = conn.call("pool.get_default_SR", pool)
    if sr == NULL_REF:
        raise NovaopsError("The pool has no default SR; give the destination SR.")
    return sr

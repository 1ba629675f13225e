# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A VDI's VHD chain, walked the way Nova did: ``sm_config['vhd-parent']`` from the leaf up.

Shared by vhd_migrate and xen_snapshot.  Also where an SR lives on its host (the PBD's
``device_config['path']``, how Nova found ``sr_path``) and which host runs its plugins.
"""

from __future__ import annotations

from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError
from ansible_collections.novaops.compute.plugins.module_utils.xenapi.session import NULL_REF, XenAPIError

MAX_DEPTH = 64
SR_MOUNT = "/var/run/sr-mount"


def vhd_parent(record):
    """The parent VDI UUID a VDI record names, or None for a base."""
    return (record.get("sm_config") or {}).get("vhd-parent") or None


def walk_chain(leaf, parent_of):
    """The one chain walker: ``(chain, stop)`` from ``leaf`` = (ref, record) to its base.

    ``parent_of(uuid)`` gives the parent's (ref, record), or None where the chain leaves what
    the caller knows.  ``chain`` is [(ref, record), ...] leaf first; ``stop`` is None at a base,
    else ("missing", uuid) or ("loop", uuid) (a loop, or deeper than MAX_DEPTH).
    """
    chain = [leaf]
    seen = {leaf[1]["uuid"]}
    while True:
        parent_uuid = vhd_parent(chain[-1][1])
        if not parent_uuid:
            return chain, None
        if parent_uuid in seen or len(chain) >= MAX_DEPTH:
            return chain, ("loop", parent_uuid)
        parent = parent_of(parent_uuid)
        if parent is None:
            return chain, ("missing", parent_uuid)
        seen.add(parent_uuid)
        chain.append(parent)


def vdi_chain(conn, vdi_ref, record=None):
    """``[(ref, record), ...]`` from the VDI (leaf) to its base, read through XenAPI; a loop or gap fails."""
    failure = {}

    def parent_of(uuid):
        try:
            ref = conn.call("VDI.get_by_uuid", uuid)
        except XenAPIError as exc:
            failure["error"] = exc
            return None
        return ref, conn.call("VDI.get_record", ref)

    chain, stop = walk_chain((vdi_ref, record or conn.call("VDI.get_record", vdi_ref)), parent_of)
    if stop and stop[0] == "loop":
        raise NovaopsError("The VHD chain of VDI %s loops or is deeper than %d at %s."
                           % (chain[0][1]["uuid"], MAX_DEPTH, stop[1]))
    if stop:
        raise NovaopsError("VDI %s names parent %s, which its SR does not know (an SR.scan may help)."
                           % (chain[-1][1]["uuid"], stop[1]), xenapi_error=failure["error"].facts["xenapi_error"])
    return chain


def chain_uuids(chain):
    return [rec["uuid"] for _ref, rec in chain]


def chain_bytes(chain):
    return sum(int(rec.get("physical_utilisation") or 0) for _ref, rec in chain)


def sr_location(conn, sr_ref):
    """``(path, host_ref)`` of an SR: where its files are on the host whose plugins reach them.

    The first PBD plugged into a host gives both (``device_config['path']``, else the
    standard ``/var/run/sr-mount/<uuid>``, as Nova's get_sr_path).
    """
    sr_uuid = conn.call("SR.get_uuid", sr_ref)
    for pbd in conn.call("SR.get_PBDs", sr_ref):
        rec = conn.call("PBD.get_record", pbd)
        host = rec.get("host")
        if host and host != NULL_REF:
            path = (rec.get("device_config") or {}).get("path")
            return path or "%s/%s" % (SR_MOUNT, sr_uuid), host
    raise NovaopsError("SR %s has no PBD on a host: it is not plugged in anywhere, so no plugin can "
                       "reach its files." % sr_uuid)


def default_sr(records, option="sr"):
    """``(ref, record)`` of the pool's default SR, from a Records cache; none is an error naming ``option``."""
    pool = next(iter(records.all("pool").values()))
    ref = pool.get("default_SR")
    srs = records.all("SR")
    if not ref or ref == NULL_REF or ref not in srs:
        raise NovaopsError("The pool has no default SR; give %s." % option)
    return ref, srs[ref]

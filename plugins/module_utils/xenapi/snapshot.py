# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Snapshot of a VDI for an image upload, after Nova's snapshot_attached_here, event-driven.

``VDI.snapshot`` turns the leaf L (parent P) into L -> B -> P with the snapshot S -> B,
where B (hidden) holds the old contents.  When P had L as its only child, the storage GC
now coalesces B into P and re-parents L and S onto P; until then the chain of S is one
longer than it need be.  Nova polled for that every 5 s, a bounded number of times; here
the wait is one ``event.from`` on VDI that returns as the GC rewrites L's ``vhd-parent``.
"""

from __future__ import annotations

import time

from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError, WaitTimeout
from ansible_collections.novaops.compute.plugins.module_utils.xenapi.vhd_chain import vhd_parent


def count_children(conn, sr_ref, parent_uuid):
    return sum(1 for rec in conn.call("VDI.get_all_records").values()
               if rec.get("SR") == sr_ref and vhd_parent(rec) == parent_uuid)


def wait_for_coalesce(conn, vdi_ref, original_chain, sr_ref, timeout):
    """Return once the leaf's parent is in the original chain again (DESIGN 5).

    Returns ``{"waited": seconds, "reason": ...}``.  At once when the original chain has
    one element (no parent: nothing to coalesce into) or its parent has other children
    (the GC will not coalesce).  Otherwise waits on ``event.from`` up to ``timeout``.
    """
    started = time.monotonic()
    if len(original_chain) == 1:
        return dict(waited=0.0, reason="single-element chain")
    if count_children(conn, sr_ref, original_chain[1]) > 1:
        return dict(waited=0.0, reason="parent has other children")
    good = set(original_chain[1:])
    try:
        conn.wait_for("VDI", vdi_ref, lambda rec: vhd_parent(rec) in good or vhd_parent(rec) is None, timeout,
                      "the storage GC to coalesce the snapshot's base copy into %s" % original_chain[1])
    except WaitTimeout as exc:
        raise WaitTimeout("the storage GC to coalesce the new base copy of VDI %s into its parent %s "
                          "(is the SR's GC stalled or busy?)" % (original_chain[0], original_chain[1]),
                          timeout, **{k: v for k, v in exc.facts.items() if k != "timeout"})
    return dict(waited=round(time.monotonic() - started, 3), reason="coalesced")


def destroy_vdi(conn, vdi_ref):
    """Destroy a snapshot VDI; returns None or the error sentence (a cleanup never masks the cause)."""
    try:
        conn.call("VDI.destroy", vdi_ref)
        return None
    except NovaopsError as exc:
        if getattr(exc, "code", None) == "HANDLE_INVALID":
            return None
        return exc.msg

# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""libvirt_migrate's destination when it is to choose one among candidate libvirt URIs.

Each candidate gets the pre-checks the migration itself makes (migration_checks: another host, not
older, CPU, memory, the storage shared or not as the mode wants), none of them a change; the one
with the most free memory among those that pass is chosen (common/destination_choice).  A domain
no longer here but running, persistent, on a candidate is where a first run put it: that candidate
is returned, and the migration finds nothing to do.
"""

from __future__ import annotations

import os

from ansible_collections.novaops.compute.plugins.module_utils.common import destination_choice
from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError
from ansible_collections.novaops.compute.plugins.module_utils.libvirt import live_migration as lm
from ansible_collections.novaops.compute.plugins.module_utils.libvirt import migration_checks as checks
from ansible_collections.novaops.compute.plugins.module_utils.libvirt.connection import LibvirtConnection


def _connect(uri):
    try:
        return LibvirtConnection(uri).__enter__()
    except NovaopsError as exc:
        raise NovaopsError("does not answer: %s" % exc.msg)


def _landed_on(uuid, name, candidates):
    """The candidate where the domain runs, persistent, already (a second run), else None."""
    for uri in candidates:
        try:
            conn = _connect(uri)
        except NovaopsError:
            continue
        try:
            dom = conn.lookup(uuid=uuid, name=name)
            if dom is not None and dom.isActive() and dom.isPersistent():
                return uri
        finally:
            conn.__exit__(None, None, None)
    return None


def choose(src, params):
    """(dest_uri, facts for the result) of the best candidate of params['dest_candidates']."""
    candidates = list(params["dest_candidates"])
    dom = src.lookup(name=params["name"], uuid=params["uuid"])
    if dom is None:
        landed = _landed_on(params["uuid"], params["name"], candidates)
        if landed is None:
            raise NovaopsError("No domain %s on this host (%s) nor running on a candidate (%s)." % (
                params["uuid"] or repr(params["name"]), src.uri, ", ".join(candidates)))
        return landed, dict(chosen="%s: the domain runs there already" % landed)
    disks = lm.guest_disks(dom)
    block = params["storage"] == "block"

    def check(uri):
        dst = _connect(uri)
        try:
            checks.same_host(src, dst)
            checks.versions(src, dst)
            checks.cpu(dom, dst)
            checks.memory(dom, dst)
            if disks:
                checks.storage(os.path.dirname(disks[0]["path"]), dst, block)
            return dst.conn.getFreeMemory()
        finally:
            dst.__exit__(None, None, None)

    weighed = destination_choice.weigh(candidates, check)
    best = destination_choice.choose(weighed, "domain %s" % dom.name())
    return best["dest"], dict(candidates=weighed, chosen=destination_choice.chosen_because(best, weighed))

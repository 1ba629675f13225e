#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r'''
module: xen_image_cache
short_description: Remove the cached Glance images of XenServer SRs that no instance uses any more
version_added: 0.2.0
description:
  - Nova's image cache manager for XenAPI. The cached image VDIs M(novaops.compute.xen_image) made (marked
    C(novaops_image_id) in C(other_config)) that no VDI reads any more - no clone of an instance's root disk,
    no snapshot of one, no suspended VM's disk - and that were cached longer ago than O(min_age_hours) are
    destroyed. Their hidden parents are left to the storage garbage collector, as xapi does.
  - A cached image still used is never destroyed, whatever its age; the report says who uses it.
author: novaops.compute maintainers (@novaops)
extends_documentation_fragment:
  - novaops.compute.xenapi
  - novaops.compute.image_cache
attributes:
  diff_mode:
    description: Shows the cached image VDIs before and after.
    support: full
options:
  sr:
    description: Name or UUID of the SR to clean. Default every SR that holds cached images.
    type: str
  images:
    description:
      - Only the cached copies of these Glance image IDs (UUIDs) are considered. Default all of them.
    type: list
    elements: str
  min_age_hours:
    description:
      - A cached image younger than this (since it was cached) is kept even when unused.
      - V(0) removes every unused cached image whatever its age. At most 876000 (100 years).
    type: float
    default: 24
notes:
  - The age is measured with this controller's clock against the C(novaops_image_cached_at) mark (UTC).
seealso:
  - module: novaops.compute.xen_image
'''

EXAMPLES = r'''
- name: Remove the cached images no instance used for a day
  novaops.compute.xen_image_cache:

- name: What would go from one SR after a week (check mode)
  novaops.compute.xen_image_cache:
    sr: Local storage
    min_age_hours: 168
  check_mode: true
'''

RETURN = r'''
removed:
  description: The cached image VDIs destroyed (in check mode, that would be).
  returned: always
  type: list
  elements: dict
  contains:
    vdi_uuid: {description: The VDI., type: str}
    image_id: {description: The Glance image it held., type: str}
    sr_uuid: {description: Its SR., type: str}
    cached_at: {description: When it was cached., type: str}
    age_hours: {description: Its age., type: float}
kept:
  description: The cached image VDIs kept, each with C(reason) (who uses it, or that it is younger than O(min_age_hours)).
  returned: always
  type: list
  elements: dict
actions:
  description: Names of the actions taken (or that would be, in check mode).
  returned: always
  type: list
  elements: str
'''

import datetime

from ansible_collections.novaops.compute.plugins.module_utils.common.argspec import ArgumentSpec
from ansible_collections.novaops.compute.plugins.module_utils.common import input_rules as rules
from ansible_collections.novaops.compute.plugins.module_utils.common.module import NovaopsModule
from ansible_collections.novaops.compute.plugins.module_utils.common.cache_cleanup import CacheCleanup
from ansible_collections.novaops.compute.plugins.module_utils.common.uuids import check_uuid
from ansible_collections.novaops.compute.plugins.module_utils.xenapi.image_cache import (
    cache_facts, cached_images, dependents, find_sr, users)
from ansible_collections.novaops.compute.plugins.module_utils.xenapi.session import XenAPIConnection, xenapi_argument_spec


def argument_spec():
    return xenapi_argument_spec().merge(ArgumentSpec(dict(
        sr=dict(type="str"),
        images=dict(type="list", elements="str"),
        min_age_hours=dict(type="float", default=24.0),
    ), input_rules={"min_age_hours": rules.AGE_HOURS}))


def check_options(params):
    """The image IDs in lower case, each once; one that is no UUID refused, naming the option (before any
    connection)."""
    if params["images"] is not None:
        ids = [check_uuid(image_id, "Glance image ID in images") for image_id in params["images"]]
        params["images"] = sorted(set(ids), key=ids.index)


def age_hours(cached_at, now):
    """Hours since an ISO 8601 UTC mark, or None when the mark is missing or unreadable."""
    try:
        then = datetime.datetime.strptime(cached_at or "", "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
    except ValueError:
        return None
    return round((now - then).total_seconds() / 3600.0, 3)


def verdict(using, age, min_age):
    """None when the cached image may go, else why it is kept."""
    if using:
        return "used by %s" % ", ".join(using)
    if age is None:
        return "no readable novaops_image_cached_at mark: its age is unknown"
    if age < min_age:
        return "cached %.2f h ago, younger than min_age_hours %s" % (age, min_age)
    return None


class ImageCacheCleanup(CacheCleanup):
    LISTED, KEY, ACTION = "cached", "vdi_uuid", "destroy_cached_image"

    def __init__(self, module, conn):
        super().__init__(module)
        self.conn = conn
        self.kept = []
        self.unused = []        # entries
        self.refs = {}          # VDI uuid -> ref, of the unused

    def read(self):
        srs = {find_sr(self.conn, self.params["sr"])[0]} if self.params["sr"] else None
        vdis = self.conn.call("VDI.get_all_records")
        wanted = set(self.params["images"] or [])
        now = datetime.datetime.now(datetime.timezone.utc)
        sr_uuids = {}
        self.kept, self.unused, self.refs = [], [], {}
        for ref, rec in _all_cached(vdis):
            if srs is not None and rec["SR"] not in srs:
                continue
            facts = cache_facts(ref, rec)
            if wanted and facts["image_id"] not in wanted:
                continue
            if rec["SR"] not in sr_uuids:
                sr_uuids[rec["SR"]] = self.conn.call("SR.get_uuid", rec["SR"])
            entry = dict(vdi_uuid=facts["vdi_uuid"], image_id=facts["image_id"], sr_uuid=sr_uuids[rec["SR"]],
                         cached_at=facts["cached_at"], age_hours=age_hours(facts["cached_at"], now))
            why = verdict(users(self.conn, dependents(vdis, ref)), entry["age_hours"], self.params["min_age_hours"])
            if why:
                self.kept.append(dict(entry, reason=why))
            else:
                self.unused.append(entry)
                self.refs[entry["vdi_uuid"]] = ref
        return dict(cached=sorted(e["vdi_uuid"] for e in self.kept + self.unused))

    def removable(self):
        return self.unused

    def remove(self, entry):
        self.conn.call("VDI.destroy", self.refs[entry["vdi_uuid"]])

    def result(self, facts):
        return dict(removed=self.removed, kept=self.kept)


def _all_cached(vdis):
    """Every cached image VDI of every SR, oldest first."""
    by_sr = sorted(set(rec.get("SR") for rec in vdis.values()))
    return [item for sr in by_sr for item in cached_images(vdis, sr)]


def main():
    module = argument_spec().create_ansible_module(NovaopsModule)
    with module.failing_clearly():
        check_options(module.params)
        with XenAPIConnection.from_params(module.params) as conn:
            module.exit_json(**ImageCacheCleanup(module, conn).converge())


if __name__ == "__main__":
    main()

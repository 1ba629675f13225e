#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r'''
module: libvirt_image_cache
short_description: Remove the _base image files of a libvirt hypervisor that no instance's disk uses any more
version_added: 0.2.0
description:
  - Nova's image cache manager for libvirt. The files of C(<instances_path>/_base) that
    M(novaops.compute.libvirt_domain) makes (an image base named after the sha1 of the image's ID, C(ephemeral_*),
    C(swap_*)) that no disk chain uses, and that were last used longer ago than O(min_age_hours), are removed.
  - A base is used when a qcow2 chain reaches it from any file of any instance directory (C(<uuid>), the
    C(<uuid>_resize) of a resize awaiting confirm or revert, a rescued instance's C(disk.rescue)) or from any disk of
    any libvirt domain, defined or running. Chains are read from the qcow2 headers, and a base is matched by inode.
  - The instances path is not trusted. Nothing there is reached through a symbolic link, and FIFOs and devices are
    never opened. When any disk chain cannot be read that way (a link or FIFO in an instance directory, a
    C(json:) backing), no base can be proven unused, so nothing is removed, and the result and a warning say why.
  - Each removal happens under the base's fetch lock, after the usage was read again. A boot that makes an overlay
    on a base holds the same lock and touches the base. The leftovers of a killed fetch (C(.part), C(.converting),
    C(.lock)) go once they are older than O(min_age_hours). While a running fetch holds their lock, they stay.
author: novaops.compute maintainers (@novaops)
extends_documentation_fragment:
  - novaops.compute.libvirt
  - novaops.compute.image_cache
attributes:
  diff_mode:
    description: Shows the entries of C(_base) before and after.
    support: full
options:
  instances_path:
    description:
      - The directory holding C(_base) and the instance directories, without links in its path.
      - A directory without C(_base) is refused (it is not an instances path, or no image was ever fetched there).
    type: path
    default: /var/lib/nova/instances
  min_age_hours:
    description:
      - An unused base whose modification time is younger than this stays. Making an overlay on a base touches
        it, so the age counts from its last use.
      - V(0) removes every unused base whatever its age. Use it only on a host where no boot runs at the same time.
        A boot that planned to use the base then fails clearly, and the next run fetches the image again.
        At most 876000 (100 years).
    type: float
    default: 24
notes:
  - Names that the cache does not make, and directories, links and hard-linked files in C(_base), are never
    removed. They are listed in RV(kept).
  - Disks of type C(block) or on the network are not read. A qcow2 on a block device that uses a C(_base) file
    is not seen.
seealso:
  - module: novaops.compute.libvirt_domain
  - module: novaops.compute.xen_image_cache
'''

EXAMPLES = r'''
- name: Remove the bases no instance used for a day
  novaops.compute.libvirt_image_cache:

- name: What would go after a week (check mode)
  novaops.compute.libvirt_image_cache:
    instances_path: /srv/nova/instances
    min_age_hours: 168
  check_mode: true
'''

RETURN = r'''
removed:
  description: The entries of C(_base) removed (in check mode, that would be).
  returned: always
  type: list
  elements: dict
  contains:
    name: {description: The file name in C(_base)., type: str}
    path: {description: Its path., type: str}
    size: {description: Its size in bytes., type: int}
    age_hours: {description: Hours since its modification time., type: float}
kept:
  description: The entries of C(_base) kept, each with C(reason) (which disks use it, that it is younger than
    O(min_age_hours), that a fetch is writing it, or that it is not the cache's).
  returned: always
  type: list
  elements: dict
unprovable:
  description: The disk chains that could not be read safely, which kept every base.
  returned: always
  type: list
  elements: str
bytes_freed:
  description: The bytes of the removed files (that would be, in check mode).
  returned: always
  type: int
actions:
  description: Names of the actions taken (or that would be, in check mode).
  returned: always
  type: list
  elements: str
'''


from ansible_collections.novaops.compute.plugins.module_utils.common.argspec import ArgumentSpec
from ansible_collections.novaops.compute.plugins.module_utils.common import input_rules as rules
from ansible_collections.novaops.compute.plugins.module_utils.common.cache_cleanup import CacheCleanup
from ansible_collections.novaops.compute.plugins.module_utils.common.confined import Root
from ansible_collections.novaops.compute.plugins.module_utils.common.module import NovaopsModule
from ansible_collections.novaops.compute.plugins.module_utils.libvirt.base_cleanup import BaseCleanup
from ansible_collections.novaops.compute.plugins.module_utils.libvirt.connection import (
    LibvirtConnection, libvirt_argument_spec)

LOCK_SECONDS = 10         # how long a removal waits for a base's lock before it keeps the base
VIR_DOMAIN_XML_INACTIVE = 2


def argument_spec():
    return libvirt_argument_spec().merge(ArgumentSpec(dict(
        instances_path=dict(type="path", default="/var/lib/nova/instances"),
        min_age_hours=dict(type="float", default=24.0),
    ), input_rules={"min_age_hours": rules.AGE_HOURS}))


def check_options(params):
    return Root(params["instances_path"], "instances_path")


class LibvirtImageCacheCleanup(CacheCleanup):
    LISTED, KEY, ACTION = "base", "name", "remove_base"

    def __init__(self, module, cleanup):
        super().__init__(module)
        self.cleanup = cleanup
        self.skipped = []       # removable when read, found in use (or locked) when its turn came

    def read(self):
        return dict(base=self.cleanup.read())

    def removable(self):
        return self.cleanup.removable

    def remove(self, entry):
        if not self.cleanup.remove(entry, LOCK_SECONDS):
            self.skipped.append(entry)

    def result(self, facts):
        removed = [e for e in self.removed if e not in self.skipped]
        kept = self.cleanup.kept if self.module.check_mode else self._kept_now(removed)
        return dict(removed=removed, kept=kept, unprovable=list(self.cleanup.unprovable),
                    bytes_freed=sum(e["size"] for e in removed))

    def _kept_now(self, removed):
        """The kept list of the read after the change, with what this run found used meanwhile."""
        names = set(e["name"] for e in removed)
        return [e for e in self.cleanup.kept if e["name"] not in names]


def main():
    module = argument_spec().create_ansible_module(NovaopsModule)
    with module.failing_clearly():
        root = check_options(module.params)
        with LibvirtConnection.from_params(module.params) as conn:
            cleanup = BaseCleanup(root, conn.conn, VIR_DOMAIN_XML_INACTIVE, module.params["min_age_hours"])
            result = LibvirtImageCacheCleanup(module, cleanup).converge()
            for text in cleanup.unprovable[:5]:
                module.warn("Nothing removed from _base: the chain of %s." % text)
            module.exit_json(**result)


if __name__ == "__main__":
    main()

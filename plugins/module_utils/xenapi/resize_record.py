# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The record of a XenAPI resize: the VMs' names and the marks in their ``other_config``.

As Nova kept a migration record, a resize (xen_resize) leaves where it stands on the VMs
themselves, so that any later run finds it, on either pool:

- the original, renamed ``<name><orig suffix>``, carries RESIZE_PRIOR_STATE (its power state
  before the resize) from the rename until the resize is confirmed (it goes) or reverted
  (the mark is cleared last, so that a failed start is resumed);
- the resized copy, ``<name>`` on the destination pool, carries RESIZE_OF (the original's uuid)
  until confirm;
- the carrier of a shrunk root disk, ``<name><carrier suffix>`` on the source pool, carries
  RESIZE_CARRIER_OF (the original's uuid) until the copy has travelled.

While the first two marks are there the instance waits for confirm or revert (Nova's RESIZED):
every other operation on it is refused (refuse_during), and the fleet inventory counts it busy
(waiting).
"""

from __future__ import annotations

from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError
from ansible_collections.novaops.compute.plugins.module_utils.xenapi.markers import (
    RESIZE_CARRIER_OF, RESIZE_OF, RESIZE_PRIOR_STATE)
from ansible_collections.novaops.compute.plugins.module_utils.xenapi.vm_facts import vms_named

MIB = 1024 * 1024
# A VHD's virtual size is rounded up to its 2 MiB blocks: the root disk a flavor asks for and the
# one made for it differ by less than this.
SIZE_TOLERANCE = 2 * MIB


def waiting(other_config):
    """What the marks of a resize say of a VM whose resize is not over (a phrase), or None."""
    other_config = other_config or {}
    if other_config.get(RESIZE_PRIOR_STATE):
        return "the original, renamed; %s=%s" % (RESIZE_PRIOR_STATE, other_config[RESIZE_PRIOR_STATE])
    if other_config.get(RESIZE_OF):
        return "the resized copy; %s=%s" % (RESIZE_OF, other_config[RESIZE_OF])
    return None


def refuse_during(vms, instance, operation):
    """Refuse ``operation`` on an instance one of whose VMs (facts: name, other_config) carries the marks of
    a resize, as Nova's check_instance_state allowed only confirm and revert in RESIZED: it would act on one
    copy beside the other.  Nothing is changed before this."""
    names = []
    for vm in vms:
        if waiting(vm.get("other_config")) and vm["name"] not in names:
            names.append(vm["name"])
    if names:
        raise NovaopsError("%s is resized and waits for confirm or revert (Nova's RESIZED): %s carries the marks of "
                           "the resize; %s would act on one copy beside the other, so it is refused until then: "
                           "confirm or revert the resize first. Nothing was changed."
                           % (instance, ", ".join(names), operation), resize_status="resized")


def prior_state(original):
    """The power state the original had before its resize (what revert and a rollback restore)."""
    return (original.get("other_config") or {}).get(RESIZE_PRIOR_STATE) or original["power_state"]


def root_disk(vm):
    """The VM's disk at userdevice 0 (facts), or None."""
    return next((d for d in vm["disks"] if d["userdevice"] == "0" and d.get("vdi_uuid")), None)


def made_for(vms, key, original_uuid):
    """The VMs among ``vms`` that a resize of original_uuid made (marked ``key``)."""
    return [vm for vm in vms if (vm.get("other_config") or {}).get(key) == original_uuid]


class ResizeRecord:
    """Where the VMs of one instance's resize are: its originals and carriers on the source pool, its
    resized copies on the destination (the same Records twice for a resize within a pool)."""

    def __init__(self, name, orig_name, named, renamed, carriers, on_dest):
        self.name = name
        self.orig_name = orig_name
        self.originals = renamed + [vm for vm in named if not vm["other_config"].get(RESIZE_OF)]
        self.resized = [vm for vm in on_dest if vm["other_config"].get(RESIZE_OF)]
        self.on_dest = on_dest
        self.carriers = [vm for vm in carriers if RESIZE_CARRIER_OF in vm["other_config"]]

    @classmethod
    def find(cls, src, dst, name, orig_suffix, carrier_suffix):
        """src, dst: xen_vm_facts.Records of the source and destination pools."""
        return cls(name, name + orig_suffix, vms_named(src, name), vms_named(src, name + orig_suffix),
                   vms_named(src, name + carrier_suffix), vms_named(dst, name))

    def one_original(self):
        """The original of a new resize: exactly one, and no resized copy of another original."""
        others = [vm for vm in self.resized if not self.originals or
                  vm["other_config"][RESIZE_OF] != self.originals[0]["uuid"]]
        if len(self.originals) != 1 or others:
            raise NovaopsError(
                "Found %s for %s and resized instances %s; a resize needs exactly one original (%s or %s). Nothing was "
                "changed." % (", ".join(vm["name"] for vm in self.originals) or "no VM", self.name,
                              ", ".join(vm["uuid"] for vm in self.resized) or "none", self.name, self.orig_name))
        return self.originals[0]

    def original_of(self, resized):
        """The original a resized copy names, when it is still there."""
        return next((vm for vm in self.originals if vm["uuid"] == resized["other_config"][RESIZE_OF]), None)

    def reverting(self):
        """The originals a revert puts back: renamed, or given their name back by a revert that stopped before
        its end (their mark of the power state is still there)."""
        return [vm for vm in self.originals
                if vm["name"] == self.orig_name or vm["other_config"].get(RESIZE_PRIOR_STATE)]

    @property
    def nothing_found(self):
        """No VM of the instance's names on either pool: a name that matches nothing."""
        return not (self.originals or self.on_dest or self.carriers)

    @property
    def status(self):
        """V(resized) (waits for confirm or revert), V(resizing) (started, not finished) or V(none)."""
        if self.resized:
            return "resized"
        if self.carriers or any(vm["name"] == self.orig_name or vm["other_config"].get(RESIZE_PRIOR_STATE)
                                for vm in self.originals):
            return "resizing"
        return "none"

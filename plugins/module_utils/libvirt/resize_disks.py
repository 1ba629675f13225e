# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Which files of an instance a resize moves, how, and whether they fit the new flavor.

The files are the domain's file disks that live in its instance directory (those Nova's
libvirt driver copied) plus ``libvirt.xml``; disks elsewhere (volumes) stay where they are.
A qcow2 with a backing file is flattened into a standalone qcow2, as Nova did when copying
to another host; anything else is copied as it is.  ``disk.swap`` moves only when the new
flavor keeps its size (otherwise the destination makes a fresh one, as Nova did).  A
flavor smaller than a disk's virtual size is refused before anything moves: disks only grow.
"""

from __future__ import annotations

import os

from ansible_collections.novaops.compute.plugins.module_utils.libvirt import instance_dir as inst
from ansible_collections.novaops.compute.plugins.module_utils.disks.diskops import backing_file_of
from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError

GiB = 1024 ** 3
MiB = 1024 ** 2
FLATTEN = "flatten"
COPY = "copy"
# the flavor field that sizes a disk, and its unit
FLAVOR_SIZE = {inst.ROOT: ("root_gb", GiB), inst.LOCAL: ("ephemeral_gb", GiB), inst.SWAP: ("swap_mb", MiB)}


def instance_disks(domain_facts, instance_dir):
    """``(inside, outside)``: names of the file disks in instance_dir, paths of the disks elsewhere."""
    inside, outside = [], []
    where = os.path.normpath(instance_dir)
    for disk in domain_facts.get("disks") or []:
        path = disk.get("path")
        if not path:
            continue
        if disk.get("type") == "file" and os.path.dirname(os.path.normpath(path)) == where:
            inside.append(os.path.basename(path))
        else:
            outside.append(path)
    return inside, outside


def describe(name, chain):
    """A disk's facts from its ``qemu-img info --backing-chain`` list (the image first)."""
    top = chain[0]
    backing = backing_file_of(top)
    return dict(name=name, format=top.get("format"), virtual_size=top.get("virtual-size"), backing=backing,
                method=FLATTEN if top.get("format") == "qcow2" and backing else COPY,
                # what the copy may take at most: every allocated byte of the chain
                need=sum(int(layer.get("actual-size") or 0) for layer in chain))


def check_fits(disks, flavor):
    """Refuse a flavor whose root or ephemeral size is below a disk's virtual size, naming each."""
    if not flavor:
        return
    shrinks = []
    for disk in disks:
        field = FLAVOR_SIZE.get(disk["name"])
        if field is None or disk["name"] == inst.SWAP or flavor.get(field[0]) is None:
            continue
        wanted = flavor[field[0]] * field[1]
        if disk["name"] == inst.ROOT and not wanted:
            continue                       # root_gb 0: the image's own size, nothing to compare
        if wanted < (disk.get("virtual_size") or 0):
            shrinks.append(dict(name=disk["name"], virtual_size=disk["virtual_size"], flavor_bytes=wanted))
    if shrinks:
        raise NovaopsError("Refusing the resize before anything moves: the new flavor is smaller than %s; disks "
                           "only grow." % "; ".join(
                               "%s (%d bytes, the flavor gives %s=%d, %d bytes)" % (
                                   s["name"], s["virtual_size"], FLAVOR_SIZE[s["name"]][0],
                                   flavor[FLAVOR_SIZE[s["name"]][0]], s["flavor_bytes"]) for s in shrinks),
                           shrinks=shrinks)


def keeps(disk, flavor):
    """Whether a disk moves: all do but a swap disk the new flavor sizes differently."""
    if disk["name"] != inst.SWAP or not flavor or flavor.get("swap_mb") is None:
        return True
    return flavor["swap_mb"] * MiB == disk.get("virtual_size")

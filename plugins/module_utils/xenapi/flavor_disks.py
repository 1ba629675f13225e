# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A flavor's disks where Nova's XenAPI driver put them: the root at userdevice 0 (a clone of
the cached image VDI when the instance boots from an image, grown to ``root_gb``), swap at 1,
ephemeral at 4.  Each entry is a ``disks`` element of xen_vm, with the name of the flavor key
or option it comes from for messages."""

from __future__ import annotations

ROOT, SWAP, EPHEMERAL = "0", "1", "4"

DISK_KEYS = ("userdevice", "size_gb", "size_mb", "sr", "vdi", "clone_of", "adopt", "name", "bootable", "mode")


def _disk(**given):
    spec = dict.fromkeys(DISK_KEYS)
    spec["adopt"] = False
    spec.update(given)
    return spec


def flavor_disks(flavor, name, image_vdi=None):
    """``[(where, disk spec)]`` for a flavor (and the image VDI the root is a clone of, or None).

    ``image_vdi`` may be ``""``: the image is not cached yet (check mode of a first boot)."""
    disks = []
    root_gb = flavor.get("root_gb") or 0
    if image_vdi is not None:
        disks.append(("image_vdi", _disk(userdevice=ROOT, clone_of=image_vdi, bootable=True,
                                         size_gb=root_gb if root_gb > 0 else None)))
    elif root_gb > 0:
        disks.append(("flavor.root_gb", _disk(userdevice=ROOT, size_gb=root_gb, bootable=True)))
    if (flavor.get("swap_mb") or 0) > 0:
        disks.append(("flavor.swap_mb", _disk(userdevice=SWAP, size_mb=flavor["swap_mb"], name="%s swap" % name)))
    if (flavor.get("ephemeral_gb") or 0) > 0:
        disks.append(("flavor.ephemeral_gb", _disk(userdevice=EPHEMERAL, size_gb=flavor["ephemeral_gb"],
                                                   name="%s ephemeral" % name)))
    return disks

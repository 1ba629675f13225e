# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The checks Nova made before a live migration, each a refusal in a sentence, none of them a change.

Not the same host (libvirt's host UUID), a destination that answers, a libvirt and a QEMU on the
destination no older than the source's, the guest's CPU as the destination's hypervisor would run it
(compareHypervisorCPU of the domain's <cpu>), the memory free there, and the storage: a test file
written in the instance directory here is looked for there - found means shared (a live migration of
memory only), not found means not shared (a block migration must copy the disks).
"""

from __future__ import annotations

import os
import uuid as uuidlib
import xml.etree.ElementTree as ET

from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError
from ansible_collections.novaops.compute.plugins.module_utils.libvirt import remote_files

try:
    import libvirt
except ImportError:
    pass        # connection.py reports the missing binding


def _version(number):
    """libvirt's version integer (major * 1000000 + minor * 1000 + release) as text."""
    return "%d.%d.%d" % (number // 1000000, number // 1000 % 1000, number % 1000)


def same_host(src, dst):
    if src.host_uuid() == dst.host_uuid():
        raise NovaopsError("The destination %s is the source host itself (host UUID %s): a live migration needs "
                           "another host." % (dst.uri, src.host_uuid()))
    return "host uuid %s -> %s" % (src.host_uuid(), dst.host_uuid())


def versions(src, dst):
    found = []
    for what, read in (("libvirt", lambda c: c.getLibVersion()), ("QEMU", lambda c: c.getVersion())):
        here, there = read(src.conn), read(dst.conn)
        if there < here:
            raise NovaopsError("The destination's %s %s is older than the source's %s: a guest cannot migrate to an "
                               "older one." % (what, _version(there), _version(here)))
        found.append("%s %s -> %s" % (what, _version(here), _version(there)))
    return ", ".join(found)


def cpu(dom, dst):
    """The guest's CPU (the <cpu> of its live XML) as the destination's hypervisor would run it."""
    root = ET.fromstring(dom.XMLDesc(0))
    guest_cpu = root.find("cpu")
    if guest_cpu is None or (guest_cpu.find("model") is None and guest_cpu.get("mode") in (None, "custom")):
        return "no guest CPU model: QEMU's default CPU for %s" % root.get("type")
    os_type = root.find("os/type")
    emulator = root.findtext("devices/emulator")
    answer = dst.conn.compareHypervisorCPU(emulator, os_type.get("arch"), os_type.get("machine"), root.get("type"),
                                           ET.tostring(guest_cpu, encoding="unicode"), 0)
    if answer == libvirt.VIR_CPU_COMPARE_INCOMPATIBLE:
        raise NovaopsError("The destination's hypervisor cannot run the guest's CPU (%s): compareHypervisorCPU "
                           "says incompatible." % (guest_cpu.findtext("model") or guest_cpu.get("mode")))
    return "guest CPU %s compatible" % (guest_cpu.findtext("model") or guest_cpu.get("mode"))


def memory(dom, dst):
    wanted = dom.maxMemory() * 1024
    free = dst.conn.getFreeMemory()
    if free < wanted:
        raise NovaopsError("The destination has %d MiB of memory free, the guest needs %d MiB." % (
            free // 1048576, wanted // 1048576))
    return "%d MiB needed, %d MiB free" % (wanted // 1048576, free // 1048576)


def storage_shared(directory, dst):
    """Whether ``directory`` (here) is the same directory on the destination: a test file tells."""
    name = ".novaops-shared-test-%s" % uuidlib.uuid4().hex
    path = os.path.join(directory, name)
    with open(path, "w") as handle:
        handle.write("novaops.compute shared storage test\n")
    try:
        return remote_files.exists(dst.conn, directory, name)
    finally:
        os.unlink(path)


def storage(directory, dst, block):
    shared = storage_shared(directory, dst)
    if block and shared:
        raise NovaopsError("The instance directory %s is shared with the destination (a test file written here is "
                           "there): a block migration would copy the disks onto themselves. Use storage=shared."
                           % directory)
    if not block and not shared:
        raise NovaopsError("The instance directory %s is not shared with the destination (a test file written here "
                           "is not there): a live migration of memory only would leave the disks behind. Use "
                           "storage=block." % directory)
    return "instance directory %s" % ("shared" if shared else "not shared")

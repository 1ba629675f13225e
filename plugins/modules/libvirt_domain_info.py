#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r'''
module: libvirt_domain_info
short_description: Facts of libvirt domains - state, disks with backing chains, VIFs, VNC, desired state
version_added: 0.1.0
description:
  - Reports one libvirt domain (by O(name) or O(uuid)) or all of them.
  - For each, its state and the reason libvirt gives, its disks with their backing chains, its VIFs (with the
    OVS port carrying each Open vSwitch VIF while it runs), the VNC address and port, whether it has a
    managed-save image, autostart, and the desired state that M(novaops.compute.libvirt_domain) recorded
    in its metadata, so that a fleet-repair run can compare desired with actual.
author: novaops.compute maintainers (@novaops)
extends_documentation_fragment:
  - novaops.compute.libvirt
  - novaops.compute.info_module
options:
  name:
    description: The domain's name. Without O(name) and O(uuid), all domains are reported.
    type: str
  uuid:
    description: The domain's UUID.
    type: str
  ovs:
    description: Look up the OVS port of each running Open vSwitch VIF (needs C(ovs-vsctl)).
    type: bool
    default: true
notes:
  - A named domain that does not exist is not an error; RV(domains) is then empty and RV(exists) false.
seealso:
  - module: novaops.compute.libvirt_domain
'''

EXAMPLES = r'''
- name: One instance
  novaops.compute.libvirt_domain_info:
    name: web1
  register: web1

- name: Instances whose state differs from the desired one
  novaops.compute.libvirt_domain_info:
  register: all_domains

- ansible.builtin.debug:
    msg: "{{ item.name }} is {{ item.state }}, wanted {{ item.desired.state }}"
  loop: "{{ all_domains.domains | selectattr('desired') }}"
  when: item.desired.state is defined and item.desired.state not in [item.state, 'defined']
'''

RETURN = r'''
exists:
  description: Whether the named domain exists (always true when listing all).
  returned: always
  type: bool
domains:
  description: The domains.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Name.
      type: str
    uuid:
      description: UUID.
      type: str
    state:
      description: V(running), V(paused), V(shutoff), V(saved) (shut off with a managed-save image), V(crashed), ...
      type: str
    reason:
      description: libvirt's reason code for the state.
      type: int
    reason_name:
      description: The reason's name, as virsh domstate --reason shows it (V(booted), V(user), V(saved), V(destroyed), ...).
      type: str
      sample: booted
    persistent:
      description: Whether the domain is defined (not transient).
      type: bool
    autostart:
      description: Whether it starts with the host.
      type: bool
    managed_save:
      description: Whether a managed-save image exists.
      type: bool
    virt_type:
      description: The domain type (kvm, qemu, ...).
      type: str
    vcpus:
      description: Number of vCPUs.
      type: int
    memory_mb:
      description: Memory in MiB.
      type: int
    disks:
      description: Disks with target, bus, device, path, format and backing_chain (list of path and format).
      type: list
      elements: dict
    disk_files:
      description:
        - The disks' file names (the last part of each path; null for a disk with no path) in the domain's order,
          the order it boots them in - a rescued domain's start with V(disk.rescue) then V(disk).
      type: list
      elements: str
      sample: [disk.rescue, disk]
    vifs:
      description: Interfaces with type, mac, bridge, virtualport, id (OVS iface-id), model, target (tap) and ovs_port.
      type: list
      elements: dict
    unplugged_ovs_macs:
      description:
        - The MACs of the Open vSwitch interfaces (C(virtualport) V(openvswitch)) that have no Open vSwitch
          port - all of them while the domain is not running; empty when every one is plugged.
        - Null with O(ovs=false) (the ports are not looked up).
      type: list
      elements: str
      sample: []
    vnc:
      description: VNC host (listen address) and port, or null.
      type: dict
      sample: {host: 127.0.0.1, port: 5900, listen: 127.0.0.1}
    desired:
      description: The desired state recorded by M(novaops.compute.libvirt_domain), or null.
      type: dict
'''

import os

from ansible_collections.novaops.compute.plugins.module_utils.libvirt import domain_xml as dx
from ansible_collections.novaops.compute.plugins.module_utils.common.argspec import ArgumentSpec
from ansible_collections.novaops.compute.plugins.module_utils.disks.diskops import QemuImg, backing_file_of
from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError
from ansible_collections.novaops.compute.plugins.module_utils.common.confined import check_plain_file
from ansible_collections.novaops.compute.plugins.module_utils.libvirt.connection import (
    domain_state, libvirt_argument_spec, vif_ovs_ports)
from ansible_collections.novaops.compute.plugins.module_utils.libvirt.module_main import run_on_host

ACTIVE = ("running", "paused", "blocked", "pmsuspended", "shutdown")
# virDomain<State>Reason, by number (libvirt-domain.h); a managed-saved domain is shut off.
REASONS = dict(
    running=("unknown", "booted", "migrated", "restored", "from snapshot", "unpaused", "migration canceled",
             "save canceled", "wakeup", "crashed", "post-copy", "post-copy failed"),
    paused=("unknown", "user", "migrating", "saving", "dumping", "I/O error", "watchdog", "from snapshot",
            "shutting down", "creating snapshot", "crashed", "starting up", "post-copy", "post-copy failed",
            "api error"),
    shutoff=("unknown", "shutdown", "destroyed", "crashed", "migrated", "saved", "failed", "from snapshot",
             "daemon"),
    shutdown=("unknown", "user"),
    crashed=("unknown", "panicked"),
)


def reason_name(state, reason):
    names = REASONS.get("shutoff" if state == "saved" else state, ())
    return names[reason] if 0 <= reason < len(names) else "unknown"


def disk_files(disks):
    """The disks' file names in the domain's order: what tells a rescued domain (disk.rescue first)."""
    return [os.path.basename(disk["path"]) if disk.get("path") else None for disk in disks]


def unplugged_ovs_macs(vifs):
    """The MACs of the Open vSwitch interfaces with no port found (facts() looks only while the domain runs)."""
    return [vif.get("mac") for vif in vifs if vif.get("virtualport") == "openvswitch" and vif.get("ovs_port") is None]


def argument_spec():
    return ArgumentSpec(dict(
        name=dict(type="str"),
        uuid=dict(type="str"),
        ovs=dict(type="bool", default=True),
    ), mutually_exclusive=[("name", "uuid")]).merge(libvirt_argument_spec())


class DomainInfo:
    def __init__(self, module, conn):
        self.module = module
        self.conn = conn
        self._ovs = None
        self._qemu_img = None

    def ovs(self):
        if self._ovs is None:
            from ansible_collections.novaops.compute.plugins.module_utils.ovs.ovsdb import OVS
            self._ovs = OVS.from_module(self.module)
        return self._ovs

    def qemu_img(self):
        if self._qemu_img is None:
            self._qemu_img = QemuImg.from_module(self.module)
        return self._qemu_img

    def facts(self, dom):
        state, reason = domain_state(dom)
        active = state in ACTIVE
        xml = dx.parse_domain_xml(dom.XMLDesc(0))
        out = dict(name=dom.name(), uuid=dom.UUIDString(), state=state, reason=reason,
                   reason_name=reason_name(state, reason),
                   persistent=bool(dom.isPersistent()), autostart=bool(dom.autostart()),
                   managed_save=bool(dom.hasManagedSaveImage(0)), virt_type=xml["virt_type"],
                   vcpus=xml["vcpus"], memory_mb=xml["memory_mb"], disks=[], vifs=[], vnc=None,
                   desired=xml["metadata"])
        for disk in xml["disks"]:
            disk = dict(disk)
            if not disk["backing_chain"] and disk.get("path") and disk.get("type") == "file":
                disk["backing_chain"] = self.chain(disk["path"], disk.get("format") or "raw")
            out["disks"].append(disk)
        for vif in xml["vifs"]:
            vif = dict(vif, kind=dx.vif_kind(vif), ovs_port=None)
            if active and self.module.params["ovs"] and vif.get("virtualport") == "openvswitch" and vif.get("id"):
                ports = vif_ovs_ports(self.ovs(), vif["id"], vif.get("mac"))
                vif["ovs_port"] = ports[0] if ports else None
            out["vifs"].append(vif)
        out["disk_files"] = disk_files(out["disks"])
        out["unplugged_ovs_macs"] = unplugged_ovs_macs(out["vifs"]) if self.module.params["ovs"] else None
        if xml["vnc"]:
            vnc = xml["vnc"]
            out["vnc"] = dict(host=vnc["listen"], listen=vnc["listen"],
                              port=vnc["port"] if active and vnc["port"] != -1 else (None if vnc["autoport"] else vnc["port"]))
        return out

    def chain(self, path, fmt):
        """Backing chain below a disk of a shut-off domain, from qemu-img (the live XML has it when running).

        Read as the format libvirt gives QEMU: qemu-img never guesses it (a raw disk holds what its guest
        wrote, which could pose as a qcow2 naming a host file); a link or FIFO at the path is not read.
        """
        try:
            check_plain_file(path, "disk")
            infos = self.qemu_img().info(path, fmt, backing_chain=True)
        except NovaopsError:
            return []
        if isinstance(infos, dict):
            infos = [infos]
        chain = []
        for info in infos[1:]:
            chain.append(dict(path=info.get("filename"), format=info.get("format")))
        if not chain and infos and backing_file_of(infos[0]):
            chain.append(dict(path=backing_file_of(infos[0]), format=infos[0].get("backing-filename-format")))
        return chain

    def run(self):
        p = self.module.params
        if p["name"] or p["uuid"]:
            dom = self.conn.lookup(name=p["name"], uuid=p["uuid"])
            doms = [dom] if dom is not None else []
            return dict(changed=False, exists=bool(doms), domains=[self.facts(d) for d in doms])
        doms = sorted(self.conn.conn.listAllDomains(0), key=lambda d: d.name())
        return dict(changed=False, exists=True, domains=[self.facts(d) for d in doms])


def main():
    run_on_host(argument_spec(), DomainInfo, step="run")


if __name__ == "__main__":
    main()

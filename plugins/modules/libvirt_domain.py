#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r'''
module: libvirt_domain
short_description: A libvirt/QEMU instance from a flavor, an image, disks and VIFs, as Nova booted it
version_added: 0.1.0
description:
  - Boots and keeps a libvirt domain the way OpenStack Nova's libvirt driver did, without Nova.
  - The image is fetched once into the C(_base) cache of O(instances_path) (named after the sha1 of its ID,
    under a lock, checksum and length verified, refused when it names a backing file); the root disk is a
    qcow2 overlay on it in the instance directory C(<instances_path>/<uuid>/).
  - C(disk.local) (the flavor's ephemeral disk) and C(disk.swap) are qcow2 overlays on bases in C(_base) made
    as Nova made them, C(ephemeral_<GiB>_<md5(fs)[:7]>) formatted with O(ephemeral_format) and labelled
    C(ephemeral0), and C(swap_<MiB>) with a swap signature; made reproducibly (the same bytes every time), so
    that a deleted base can be made again under existing overlays.
  - The domain XML is generated from the parameters and compared semantically with the defined one, so a
    second run changes nothing. MAC addresses and the UUID are stable across runs.
  - The desired state is recorded in the domain's C(<metadata>) (namespace C(https://novaops.example/compute/1))
    and in C(libvirt.xml) of the instance directory, so that O(hard_reboot) can rebuild a domain from its name
    alone, even after it was undefined.
  - O(hard_reboot=true) is Nova's repair path, safe on a healthy instance.
  - O(rescue=true) boots C(disk.rescue) from O(rescue_image) with the original C(disk) second; O(rescue=false)
    restores the saved C(unrescue.xml). Both power a running domain off at once (destroy, as Nova's rescue and
    unrescue did - a guest in need of rescue rarely answers ACPI); RV(shutdown) says how it was stopped.
  - O(hard_reboot), O(rescue) and O(rescue=false) of a name or UUID that matches no domain (and that no instance
    directory records) fail, naming it; they never make a new instance.
author: novaops.compute maintainers (@novaops)
extends_documentation_fragment:
  - novaops.compute.libvirt
  - novaops.compute.operation_lock
attributes:
  check_mode:
    support: full
    description: Reports the actions it would take and the facts it expects; changes nothing.
  diff_mode:
    support: full
    description: Shows the state and the domain settings before and after.
options:
  name:
    description:
      - Name of the domain. Required to create one.
    type: str
  uuid:
    description:
      - UUID of the domain. When a new domain is created without it, a UUID derived from O(name) is used,
        so that it is the same on every run and on every host.
    type: str
  state:
    description:
      - V(defined) - the domain is defined, whatever its run state.
      - V(running) - it runs (started, resumed or restored from its managed save).
      - V(shutdown) - it is shut off, by a clean ACPI shutdown waited for O(timeout) seconds, then
        destroyed if O(force).
      - V(paused) - its vCPUs are paused.
      - V(saved) - its memory is in a managed-save image and it is shut off (what Nova called suspend).
      - V(undefined) - it is destroyed and undefined; the instance directory is kept unless O(delete_disks).
    type: str
    choices: [defined, running, shutdown, paused, saved, undefined]
    default: running
  instances_path:
    description:
      - The directory of instance directories and of the C(_base) image cache.
      - Defaults to the one recorded in the domain's metadata when it was made by this module (so that a
        rescue, hard reboot or state change by name finds the instance's own disks), else C(/var/lib/nova/instances).
    type: path
  virt_type:
    description:
      - The libvirt domain type. V(qemu) runs without hardware virtualization (TCG).
    type: str
    choices: [kvm, qemu]
    default: kvm
  flavor:
    description:
      - The flavor. Needed to create a domain; when omitted for an existing one, the flavor recorded in its
        metadata is kept.
    type: dict
    suboptions:
      vcpus:
        description: Number of vCPUs.
        type: int
        required: true
      memory_mb:
        description: Memory in MiB.
        type: int
        required: true
      root_gb:
        description:
          - Size of the root disk C(disk) in GiB; V(0) keeps the image's size. Grown when raised, never shrunk.
          - An image whose virtual size is larger is refused before anything is created, as Nova refused it
            ("Flavor's disk is too small for requested image"); the size is read from the image's base when it
            is in C(_base), else from Glance's C(virtual_size) (or C(size), but not for a VHD tarball) before the
            download, else (an URL, a file, a VHD tarball) from the base just fetched, before the instance directory
            is made.
        type: int
        default: 0
      ephemeral_gb:
        description:
          - Size of C(disk.local) in GiB; V(0) for none. Grown when raised (the disk, not its filesystem, as
            Nova did for qcow2, the guest grows it), never shrunk.
        type: int
        default: 0
      swap_mb:
        description:
          - Size of C(disk.swap) in MiB; V(0) for none. When raised, C(disk.swap) is made again at the new
            size while the domain is shut off (O(force) or O(hard_reboot) restart a running one); never shrunk.
        type: int
        default: 0
  image:
    description:
      - The image the root disk C(disk) is an overlay of. Exactly one of O(image.id), O(image.url), O(image.path).
      - Changing the image of an existing instance (a rebuild) is refused.
    type: dict
    suboptions:
      id:
        description:
          - A Glance image ID; see O(glance).
          - C(disk_format) raw or qcow2 boot as they are; vhd (fixed or dynamic) and vmdk need O(image.raw=true).
          - A XenAPI snapshot as M(novaops.compute.xen_snapshot) uploads it (C(container_format=ovf) and
            C(disk_format=vhd), a tar of the VHD chain C(0.vhd) .. C(n.vhd)) needs O(image.raw=true) too; the tarball
            is unpacked as it downloads, its chain checked and flattened into a raw base (docs/security.md says how).
          - Other container formats than C(bare) are refused.
        type: str
      url:
        description: An http or https URL of the image.
        type: str
      path:
        description: An absolute path of an image file on the hypervisor.
        type: path
      checksum:
        description:
          - V(<algorithm>:<hex digest>) the data must match, for O(image.url) and O(image.path).
            Glance images are verified against Glance's C(os_hash_value) or C(checksum).
        type: str
      raw:
        description: Convert the base file to raw, as Nova's C(force_raw_images).
        type: bool
        default: false
      validate_certs:
        description: Verify the TLS certificate of an https O(image.url).
        type: bool
        default: true
      ca_path:
        description: A CA bundle for an https O(image.url).
        type: path
  ephemeral_format:
    description:
      - The filesystem C(disk.local) is formatted with when it is made (Nova's C(default_ephemeral_format)).
        An existing C(disk.local) keeps its own. Defaults to the recorded one, else V(ext4).
    type: str
    choices: [ext4, ext3, ext2]
  volumes:
    description:
      - More disks, after C(disk), C(disk.local) and C(disk.swap).
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: A file name inside the instance directory (no C(/), no C(..)). Exactly one of O(volumes[].name), O(volumes[].path).
        type: str
      path:
        description: An absolute path of the volume file.
        type: path
      format:
        description: The volume's format.
        type: str
        choices: [raw, qcow2]
        default: qcow2
      size_mb:
        description: Create the volume of this size when it does not exist; grown when raised, never shrunk.
        type: int
      bus:
        description: The disk bus.
        type: str
        choices: [virtio, scsi, sata, ide]
        default: virtio
  vifs:
    description:
      - Network interfaces. With O(vifs[].type=ovs) libvirt adds the tap to the Open vSwitch bridge with
        C(external_ids) C(iface-id), C(attached-mac) and C(vm-id) when the domain starts.
    type: list
    elements: dict
    default: []
    suboptions:
      id:
        description: The port ID (Neutron's port UUID), the OVS C(iface-id).
        type: str
      bridge:
        description: The bridge.
        type: str
        required: true
      type:
        description: V(ovs) for an Open vSwitch bridge, V(bridge) for a Linux bridge.
        type: str
        choices: [ovs, bridge]
        default: ovs
      mac:
        description:
          - The MAC address. Without it the domain's current one is kept, or a stable one
            (C(fa:16:3e:...), from the UUID and the VIF) is chosen.
        type: str
      model:
        description: The NIC model.
        type: str
        default: virtio
      mtu:
        description: MTU of the tap.
        type: int
      ips:
        description: The VIF's IPv4 and IPv6 addresses, for O(vifs[].anti_spoofing) and O(vifs[].qos).
        type: list
        elements: str
      anti_spoofing:
        description:
          - Keep the anti-spoofing flows of M(novaops.compute.ovs_vif) on the VIF's tap (traffic only from its MAC
            and O(vifs[].ips), DHCP out, no router advertisements), re-applied whenever the port comes back.
          - With it (or O(vifs[].qos)) the tap is named as Nova named it, C(tap) and the first 11 characters of
            O(vifs[].id). V(false) leaves the VIF's flows alone.
        type: bool
        default: false
      qos:
        description:
          - The VIF's rate limit as M(novaops.compute.ovs_qos_queue) makes it - a queue with C(max-rate) in the
            linux-htb QoS of the uplink O(vifs[].qos.port) (the QoS is made when the port has none), and flows
            C(nw_src=<ip> actions=set_queue:<id>,normal) for O(vifs[].ips) on the VIF's bridge - kept while
            the domain runs and removed with it (O(state=undefined)).
        type: dict
        suboptions:
          port:
            description: The OVS port whose QoS holds the queue (the physical uplink on the VIF's bridge).
            type: str
            required: true
          queue_id:
            description: The queue id (0 to 61439; the kernel class is C(1:<hex(id+1)>)).
            type: int
            required: true
          max_rate:
            description: C(other_config:max-rate) of the queue, bits per second.
            type: int
            required: true
          flow_table:
            description:
              - The OpenFlow table of the queue flows. Defaults to V(0), or V(1) with O(vifs[].anti_spoofing),
                whose flows then resubmit allowed traffic there.
            type: int
  vnc:
    description: VNC graphics; omit for none.
    type: dict
    suboptions:
      listen:
        description: The address VNC listens on.
        type: str
        default: 127.0.0.1
      port:
        description: The port; V(-1) lets libvirt choose.
        type: int
        default: -1
  xml:
    description:
      - Escape hatch, a complete domain XML instead of O(flavor), O(image), O(volumes), O(vifs) and O(vnc).
    type: str
  hard_reboot:
    description:
      - The repair path. Re-fetch a missing image base and make a missing ephemeral or swap base again (before
        the downtime), destroy the domain (its QEMU process, not its data), regenerate the XML and define it
        when it differs from libvirt's (or the domain was undefined), start it (which re-plugs the OVS ports),
        wait until it runs, check the OVS ports are there and re-apply the VIFs' anti-spoofing flows and
        queues. Always reports a change.
      - Without it, a run that finds a running domain's OVS port gone puts the tap back on its bridge with
        its C(external_ids) (Nova's C(plug_vifs) at host start) and re-applies what the VIF had.
      - Refused, with nothing changed, while O(instances_path) holds a resize of the instance that is not over
        (C(<uuid>_resize), awaiting confirm or revert, or a resize or revert half done), as Nova refused it in
        C(RESIZED) - it would rebuild the original at the source beside the copy at the destination.
    type: bool
    default: false
  rescue:
    description:
      - V(true) rescues the instance, V(false) unrescues it; omit to leave it as it is.
      - A running domain is destroyed (no clean shutdown is tried), which needs O(force=true).
      - Refused while a resize of the instance is not over, as O(hard_reboot) is.
    type: bool
  rescue_image:
    description:
      - The image C(disk.rescue) is an overlay of; same suboptions as O(image). Required with O(rescue=true).
    type: dict
    suboptions:
      id:
        description: A Glance image ID.
        type: str
      url:
        description: An http or https URL.
        type: str
      path:
        description: An absolute path on the hypervisor.
        type: path
      checksum:
        description: V(<algorithm>:<hex digest>).
        type: str
      raw:
        description: Convert the base file to raw.
        type: bool
        default: false
      validate_certs:
        description: Verify the TLS certificate of an https URL.
        type: bool
        default: true
      ca_path:
        description: A CA bundle for an https URL.
        type: path
  force:
    description:
      - Destroy the domain when a clean shutdown did not finish within O(timeout), and restart a running
        domain to apply a changed configuration (otherwise it applies at its next start, with a warning).
      - Allows O(rescue) to power a running domain off.
      - Also allows discarding a managed-save image when the domain must be shut down or reconfigured.
    type: bool
    default: false
  timeout:
    description:
      - Seconds to wait for each clean shutdown (O(state=shutdown), or a restart for a new configuration with
        O(force)), start, save or image-cache lock. O(rescue) and O(hard_reboot) do not wait for a clean shutdown;
        they destroy the domain.
    type: int
    default: 120
  autostart:
    description: Whether libvirt starts the domain when the host boots; omit to leave it.
    type: bool
  delete_disks:
    description: With O(state=undefined), remove the instance directory too.
    type: bool
    default: false
  glance:
    description: Where Glance is, for O(image.id) and O(rescue_image.id).
    type: dict
    suboptions:
      url:
        description: The image service endpoint. Falls back to E(OS_IMAGE_URL).
        type: str
      token:
        description: A keystone token. Falls back to E(OS_AUTH_TOKEN).
        type: str
      cloud:
        description: A cloud of C(clouds.yaml), as openstack.cloud names them. Falls back to E(OS_CLOUD).
        type: str
      project_id:
        description: Sent as C(X-Tenant-Id) and C(X-Project-Id), for a Glance without keystone.
        type: str
      roles:
        description: Sent as C(X-Roles), for a Glance without keystone.
        type: list
        elements: str
      validate_certs:
        description: Verify the TLS certificate.
        type: bool
        default: true
      ca_path:
        description: A CA bundle.
        type: path
      timeout:
        description: Seconds for each request.
        type: int
        default: 300
requirements:
  - qemu-img on the hypervisor
  - mkfs.ext4 (e2fsprogs) and mkswap (util-linux) for C(disk.local) and C(disk.swap)
  - Open vSwitch tools and netaddr for OVS VIFs with O(vifs[].anti_spoofing) or O(vifs[].qos)
notes:
  - The module runs on the hypervisor (the instance directory and C(_base) are local files there).
seealso:
  - module: novaops.compute.libvirt_domain_info
  - module: community.libvirt.virt
'''

EXAMPLES = r'''
- name: Boot an instance from a Glance image
  novaops.compute.libvirt_domain:
    name: web1
    flavor: {vcpus: 2, memory_mb: 2048, root_gb: 20, swap_mb: 512}
    image: {id: 5f0e2a57-9b9a-4d44-8f6c-3a3a0e0f9b11}
    vifs:
      - {id: 3c0b8f4e-2d3c-4d6a-9a8e-5a1b2c3d4e5f, bridge: br-int}
    vnc: {listen: 0.0.0.0}
    glance: {cloud: mycloud}

- name: Grow the flavor, restarting the instance to apply it
  novaops.compute.libvirt_domain:
    name: web1
    flavor: {vcpus: 4, memory_mb: 4096, root_gb: 40, swap_mb: 512}
    force: true
    timeout: 60

- name: Suspend (managed save)
  novaops.compute.libvirt_domain:
    name: web1
    state: saved

- name: Repair it the Nova way (the flavor, image and VIFs come from its recorded desired state)
  novaops.compute.libvirt_domain:
    name: web1
    hard_reboot: true

- name: Rescue
  novaops.compute.libvirt_domain:
    name: web1
    rescue: true
    rescue_image: {url: https://images.example.com/rescue.qcow2, checksum: "sha256:0a1b..."}
    force: true

- name: Unrescue
  novaops.compute.libvirt_domain:
    name: web1
    rescue: false
    force: true

- name: A hand-written domain
  novaops.compute.libvirt_domain:
    xml: "{{ lookup('file', 'vm.xml') }}"
    state: defined
'''

RETURN = r'''
domain:
  description: The domain after the run (in check mode, as it would be).
  returned: always
  type: dict
  contains:
    name:
      description: Domain name.
      type: str
      sample: web1
    uuid:
      description: Domain UUID.
      type: str
      sample: 0f4b8ae3-8bd7-5d56-9b0a-3b5b0a1d2c3e
    state:
      description: V(running), V(paused), V(shutoff), V(saved), V(crashed), ... or V(undefined).
      type: str
      sample: running
    instance_dir:
      description: The instance directory.
      type: str
      sample: /var/lib/nova/instances/0f4b8ae3-8bd7-5d56-9b0a-3b5b0a1d2c3e
    config:
      description: The defined configuration the module compares (virt_type, vcpus, memory_mb, disks, vifs, vnc).
      type: dict
    desired:
      description: The desired state recorded in the domain's metadata.
      type: dict
    disks:
      description: The instance's disk files, with their virtual size and backing file.
      type: list
      elements: dict
      sample: [{name: disk, path: /var/lib/nova/instances/.../disk, virtual_size: 21474836480, backing: /var/lib/nova/instances/_base/3f7a...}]
    vifs:
      description: The VIFs; for a running domain with OVS VIFs, C(ovs_port) is the OVS port found for its iface-id (or null).
      type: list
      elements: dict
    vnc:
      description: VNC listen address and port (the port libvirt chose, while running).
      type: dict
      sample: {listen: 127.0.0.1, port: 5900}
    rescued:
      description: Whether the instance is in rescue mode.
      type: bool
    autostart:
      description: Whether the domain starts with the host.
      type: bool
    base:
      description: The image's base file in C(_base) and whether it is present.
      type: dict
      sample: {path: /var/lib/nova/instances/_base/3f7a..., present: true}
operation_lock:
  description:
    - What the run did to operation locks not its own. C(cleared) and C(taken_over) list the stale marks it
      removed (O(clear_stale_lock), or a hard reboot); C(cleaned_up) what a killed xen_vdi_resize had left
      and this run removed; C(stale) a stale mark it left alone, having nothing to do.
    - In a refusal, C(busy) is the mark of the operation in the way.
  returned: when the instance carried the mark of another run
  type: dict
  sample:
    cleared:
      - operation: xen_vdi_resize
        owner: "hv1:4242"
        started_at: "2026-03-01T10:00:00Z"
        source: other_config
        stale: true
        stale_reason: its owner, process 4242 on this host, is gone
actions:
  description: The names of the actions taken (or, in check mode, that would be taken), in order.
  returned: always
  type: list
  elements: str
  sample: [fetch_image, create_instance_dir, create_disk, define, start]
pending_restart:
  description: The defined configuration differs from the running one; it applies at the next start.
  returned: always
  type: bool
summary:
  description:
    - With O(hard_reboot=true) - one line of what was found broken before the restart (power state, a missing
      image base, disk or definition, a VIF without its Open vSwitch port) and what was done, or that nothing was
      broken.
  returned: with O(hard_reboot=true)
  type: str
  sample: "Domain web1: nothing was broken; restarted as asked (destroy, start, wire_vifs)."
shutdown:
  description:
    - How this run stopped a running domain - V(clean) (the guest shut down on ACPI within O(timeout)) or
      V(forced) (destroyed - rescue, unrescue, hard reboot, undefine, or a clean shutdown that timed out with
      O(force)); null when it stopped none. In check mode, V(forced) when the plan destroys it, else null.
  returned: always
  type: str
  sample: forced
image:
  description:
    - What the image cache did (C(fetched), C(bytes), C(duration), C(verified_by)) when it fetched;
      C(vhd_files), the number of VHD files flattened, for a VHD tarball.
  returned: when an image was fetched
  type: dict
duration:
  description: Seconds the module took.
  returned: always
  type: float
'''

import copy
import os
import time

from ansible_collections.novaops.compute.plugins.module_utils.common.uuids import check_uuid
from ansible_collections.novaops.compute.plugins.module_utils.libvirt import domain_xml as dx
from ansible_collections.novaops.compute.plugins.module_utils.libvirt import instance_dir as inst
from ansible_collections.novaops.compute.plugins.module_utils.libvirt import resize_record
from ansible_collections.novaops.compute.plugins.module_utils.common.argspec import ArgumentSpec
from ansible_collections.novaops.compute.plugins.module_utils.common.file_rule import PLAIN_FILE
from ansible_collections.novaops.compute.plugins.module_utils.common import input_rules as rules
from ansible_collections.novaops.compute.plugins.module_utils.disks.diskops import QemuImg, backing_file_of
from ansible_collections.novaops.compute.plugins.module_utils.libvirt.ephemeral import (
    DEFAULT_FILESYSTEM, FILESYSTEMS, LocalBases, ephemeral_base_name, parse_base_name, swap_base_name)
from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError
from ansible_collections.novaops.compute.plugins.module_utils.glance.client import GlanceClient, glance_argument_spec
from ansible_collections.novaops.compute.plugins.module_utils.libvirt.image_cache import ImageCache, ImageRef, base_name
from ansible_collections.novaops.compute.plugins.module_utils.libvirt.connection import (
    check_domain_name, domain_state, is_libvirt_error, libvirt_argument_spec, wait_for_state, vif_ovs_ports)
from ansible_collections.novaops.compute.plugins.module_utils.libvirt.module_main import run_on_host
from ansible_collections.novaops.compute.plugins.module_utils.libvirt.operation_lock import LibvirtOperationLock
from ansible_collections.novaops.compute.plugins.module_utils.common.operation_lock import lock_argument_spec
from ansible_collections.novaops.compute.plugins.module_utils.common.plan import Manager
from ansible_collections.novaops.compute.plugins.module_utils.common import repair_summary as repairs
from ansible_collections.novaops.compute.plugins.module_utils.libvirt.vif_wiring import VifWiring, check_vif, tap_name
from ansible_collections.novaops.compute.plugins.module_utils.common.confined import check_plain_file, plain_file
from ansible_collections.novaops.compute.plugins.module_utils.common.redact import redact_url

GiB = 1024 ** 3
MiB = 1024 ** 2
ACTIVE = ("running", "paused", "blocked", "pmsuspended", "shutdown")
DEFAULT_INSTANCES_PATH = "/var/lib/nova/instances"     # Nova's instances_path
IMAGE_OPTIONS = dict(id=dict(type="str"), url=dict(type="str"), path=dict(type="path"),
                     checksum=dict(type="str"), raw=dict(type="bool", default=False),
                     validate_certs=dict(type="bool", default=True), ca_path=dict(type="path"))
SPEC_OPTIONS = ("flavor", "image", "volumes", "vifs", "vnc")


def argument_spec():
    spec = ArgumentSpec(dict(
        name=dict(type="str"),
        uuid=dict(type="str"),
        state=dict(type="str", default="running",
                   choices=["defined", "running", "shutdown", "paused", "saved", "undefined"]),
        instances_path=dict(type="path"),
        virt_type=dict(type="str", default="kvm", choices=["kvm", "qemu"]),
        flavor=dict(type="dict", options=dict(
            vcpus=dict(type="int", required=True), memory_mb=dict(type="int", required=True),
            root_gb=dict(type="int", default=0), ephemeral_gb=dict(type="int", default=0),
            swap_mb=dict(type="int", default=0))),
        image=dict(type="dict", options=copy.deepcopy(IMAGE_OPTIONS)),
        ephemeral_format=dict(type="str", choices=list(FILESYSTEMS)),
        volumes=dict(type="list", elements="dict", default=[], options=dict(
            name=dict(type="str"), path=dict(type="path"),
            format=dict(type="str", default="qcow2", choices=["raw", "qcow2"]),
            size_mb=dict(type="int"), bus=dict(type="str", default="virtio", choices=["virtio", "scsi", "sata", "ide"])),
            mutually_exclusive=[("name", "path")], required_one_of=[("name", "path")]),
        vifs=dict(type="list", elements="dict", default=[], options=dict(
            id=dict(type="str"), bridge=dict(type="str", required=True),
            type=dict(type="str", default="ovs", choices=["ovs", "bridge"]),
            mac=dict(type="str"), model=dict(type="str", default="virtio"), mtu=dict(type="int"),
            ips=dict(type="list", elements="str"), anti_spoofing=dict(type="bool", default=False),
            qos=dict(type="dict", options=dict(
                port=dict(type="str", required=True), queue_id=dict(type="int", required=True),
                max_rate=dict(type="int", required=True), flow_table=dict(type="int"))))),
        vnc=dict(type="dict", options=dict(listen=dict(type="str", default="127.0.0.1"),
                                           port=dict(type="int", default=-1))),
        xml=dict(type="str"),
        hard_reboot=dict(type="bool", default=False),
        rescue=dict(type="bool"),
        rescue_image=dict(type="dict", options=copy.deepcopy(IMAGE_OPTIONS)),
        force=dict(type="bool", default=False),
        timeout=dict(type="int", default=120),
        autostart=dict(type="bool"),
        delete_disks=dict(type="bool", default=False),
    ), required_one_of=[("name", "uuid", "xml")],
        mutually_exclusive=[("xml", "flavor"), ("xml", "image"), ("xml", "vnc"), ("xml", "rescue")],
        required_if=[("rescue", True, ("rescue_image",))],
        input_rules={"uuid": rules.Uuid(), "flavor.memory_mb": rules.AMOUNT, "flavor.root_gb": rules.AMOUNT,
                     "flavor.ephemeral_gb": rules.AMOUNT, "flavor.swap_mb": rules.AMOUNT,
                     "image.validate_certs": rules.TlsSwitch(("url",)), "image.ca_path": PLAIN_FILE,
                     "volumes.size_mb": rules.AMOUNT, "vifs.qos.max_rate": rules.AMOUNT,
                     "rescue_image.validate_certs": rules.TlsSwitch(("url",)), "rescue_image.ca_path": PLAIN_FILE,
                     "timeout": rules.SECONDS})
    return spec.merge(libvirt_argument_spec()).merge(glance_argument_spec()).merge(lock_argument_spec())


def image_key(image):
    """The comparable identity of an image dict (id, url or path)."""
    if not image:
        return None
    return dict((k, image.get(k)) for k in ("id", "url", "path") if image.get(k))


class Transition:
    """What a run changes beyond the configuration - rescue, unrescue, hard reboot - and its refusals."""

    def __init__(self, rescued, rescue, hard_reboot, force, name):
        self.rescued = rescued
        self.want_rescue = rescued if rescue is None else rescue
        self.hard_reboot = hard_reboot
        self.force = force
        self.name = name

    @property
    def rescue_changes(self):
        return self.want_rescue != self.rescued

    @property
    def rescues(self):
        return self.want_rescue and not self.rescued

    @property
    def unrescues(self):
        return self.rescued and not self.want_rescue

    @property
    def operation(self):
        return "a hard reboot" if self.hard_reboot else "rescue" if self.want_rescue else "unrescue"

    def check_target(self, target):
        if self.hard_reboot and target not in ("running", "paused", "defined"):
            raise NovaopsError("hard_reboot leaves the domain running; it cannot be combined with state=%s." % target)
        if self.rescue_changes and target not in ("running", "defined"):
            raise NovaopsError("Rescue and unrescue leave the domain running; use state=running.")

    def check_power(self, active):
        if self.rescue_changes and active and not self.force:
            raise NovaopsError("Domain %s runs; %s powers it off at once (destroys it, as Nova did): use force=true."
                               % (self.name, "rescue" if self.want_rescue else "unrescue"))


def check_flavor_fits(flavor, root_bytes, image_bytes, ref, measured):
    """Refuse a root disk of root_bytes for an image of image_bytes, naming both (Nova's
    FlavorDiskSmallerThanImage)."""
    if image_bytes and root_bytes < image_bytes:
        raise NovaopsError(
            "Flavor's disk is too small for requested image: the flavor's root_gb %s is %d bytes, the image %s is "
            "%d bytes (%s). Nothing was created; give a flavor with root_gb of at least %d, or 0 for the image's "
            "own size." % (flavor.get("root_gb"), root_bytes, ref.image_id, image_bytes, measured,
                           -(-image_bytes // GiB)), flavor_bytes=root_bytes, image_bytes=image_bytes)


def shown_image(image):
    """An image dict as it is recorded and shown: its URL without credentials (redact.py)."""
    if not image or not image.get("url"):
        return image
    return dict(image, url=redact_url(image["url"]))


class Domain(Manager):
    """One libvirt domain plus its instance directory and base files."""

    def __init__(self, module, conn):
        super().__init__(module)
        self.conn = conn
        self.qemu_img = QemuImg.from_module(module)
        self.path_given = self.params["instances_path"] is not None
        self.use_instances_path(self.params["instances_path"] or DEFAULT_INSTANCES_PATH)
        self.image_result = None
        self.repair = None          # (before, plan) of a hard reboot, for its summary
        self.pending_restart = False
        self.planned_stop = None       # "forced" when the plan destroys a running domain
        self.stopped = None            # how this run stopped it: "clean" or "forced"
        self._file_facts = {}
        self._image_infos = {}
        self._glance_images = {}
        self._ovs = None
        self.idir = None
        self.desired = None
        self.wanted_spec = None

    # -- reading -------------------------------------------------------------------------------
    def lookup(self):
        p = self.params
        dom = None
        if p["uuid"]:
            dom = self.conn.lookup(uuid=check_uuid(p["uuid"]))
        elif p["name"]:
            dom = self.conn.lookup(name=p["name"])
        elif p["xml"]:                # the escape hatch alone: the XML names the domain
            wanted = dx.parse_domain_xml(p["xml"])
            if wanted.get("uuid"):
                dom = self.conn.lookup(uuid=check_uuid(wanted["uuid"]))
            if dom is None:
                dom = self.conn.lookup(name=wanted["name"])
        if dom is not None and p["name"] and p["uuid"] and dom.name() != p["name"]:
            raise NovaopsError("The domain with UUID %s is named %s, not %s." % (p["uuid"], dom.name(), p["name"]))
        if dom is None and p["name"] and p["uuid"]:
            other = self.conn.lookup(name=p["name"])
            if other is not None:     # libvirt would refuse a second domain of that name at define
                raise NovaopsError("Domain %s exists with UUID %s, not %s." % (p["name"], other.UUIDString(), p["uuid"]))
        return dom

    def use_instances_path(self, path):
        self.params["instances_path"] = path
        self.cache = ImageCache(path, self.qemu_img,
                                glance_factory=lambda: GlanceClient.from_params(self.params.get("glance")),
                                lock_timeout=self.params["timeout"])
        self.bases = LocalBases(self.cache, self.module.run_command,
                                lambda name: self.module.get_bin_path(name, opt_dirs=["/usr/sbin", "/sbin"]))

    def read(self):
        p = self.params
        dom = self.lookup()
        facts = dict(name=p["name"], uuid=None, state="undefined", config=None, desired=None,
                     live=None, managed_save=False, autostart=None, persistent=None)
        self.read_xml = (None, None)        # (live, inactive): the operation lock looks for marks in them
        if dom is not None:
            state, _reason = domain_state(dom)
            self.read_xml = (None, dom.XMLDesc(2))
            inactive = dx.parse_domain_xml(self.read_xml[1])
            facts.update(name=dom.name(), uuid=dom.UUIDString(), state=state, config=dx.config_view(inactive),
                         desired=inactive.get("metadata"), managed_save=state == "saved",
                         autostart=bool(dom.autostart()), persistent=bool(dom.isPersistent()))
            recorded_path = (facts["desired"] or {}).get("instances_path")
            if not self.path_given and recorded_path and recorded_path != p["instances_path"]:
                self.use_instances_path(recorded_path)
            if state in ACTIVE:
                self.read_xml = (dom.XMLDesc(0), self.read_xml[1])
                live = dx.parse_domain_xml(self.read_xml[0])
                facts["live"] = dx.config_view(live)
                facts["vnc"] = live.get("vnc")
                facts["vifs"] = live.get("vifs")
        else:
            if p["uuid"]:
                facts["uuid"] = check_uuid(p["uuid"])
            elif p["name"]:
                facts["uuid"] = dx.stable_uuid(p["name"])
        if facts["uuid"] and not p["xml"]:
            idir = inst.InstanceDir(p["instances_path"], facts["uuid"])
            facts["instance_dir"] = idir.path
            facts["rescued"] = idir.has(inst.UNRESCUE_XML)
            if facts["desired"] is None:
                saved = idir.read(inst.UNRESCUE_XML) or idir.read(inst.LIBVIRT_XML)
                if saved:
                    facts["desired"] = dx.parse_domain_xml(saved).get("metadata")
            facts["disks"] = self._disk_files(idir, self._known_formats(idir, facts))
        if facts.get("vifs") and facts["state"] in ACTIVE:
            facts["vifs"] = self._with_ovs_ports(facts["vifs"])
        return facts

    def _known_formats(self, idir, facts):
        """The format of each disk file of the instance directory, as this module made it or libvirt reads it;
        qemu-img never guesses one (a raw disk holds what its guest wrote)."""
        formats = dict((name, "qcow2") for name in (inst.ROOT, inst.LOCAL, inst.SWAP, inst.RESCUE))
        for disk in (facts.get("config") or {}).get("disks") or []:
            if disk.get("path") and os.path.dirname(os.path.normpath(disk["path"])) == idir.path:
                formats[os.path.basename(disk["path"])] = disk.get("format") or "raw"
        for vol in self.params["volumes"] or []:
            if vol.get("name"):
                formats[vol["name"]] = vol.get("format") or "qcow2"
        return formats

    def _disk_files(self, idir, formats):
        files = []
        if not idir.exists:
            return files
        for name in idir.root.listdir(idir.uuid):
            if not name.startswith("disk"):
                continue
            path = idir.file(name)      # a link or FIFO named disk* is refused here
            info = {}
            if formats.get(name) and idir.has(name):
                try:
                    info = self._image_info(path, formats[name])
                except NovaopsError:
                    pass
            files.append(dict(name=name, path=path, format=info.get("format"),
                              virtual_size=info.get("virtual-size"), backing=backing_file_of(info)))
        return files

    def _image_info(self, path, fmt):
        """qemu-img info of a disk file, run again only when the file changed since this run last read it
        (a run reads its instance up to three times: before, under the lock, after)."""
        seen = os.stat(path)
        key = (path, fmt, seen.st_dev, seen.st_ino, seen.st_size, seen.st_mtime_ns, seen.st_ctime_ns)
        if key not in self._image_infos:
            self._image_infos[key] = self.qemu_img.info(path, fmt)
        return self._image_infos[key]

    def _with_ovs_ports(self, vifs):
        out = []
        for vif in vifs:
            vif = dict(vif)
            if vif.get("virtualport") == "openvswitch" and vif.get("id"):
                try:
                    ports = vif_ovs_ports(self.ovs(), vif["id"], vif.get("mac"))
                except NovaopsError as exc:
                    self.module.warn("Cannot read the OVS port of VIF %s: %s" % (vif["id"], exc))
                    ports = []
                vif["ovs_port"] = ports[0] if ports else None
            out.append(vif)
        return out

    def ovs(self):
        if self._ovs is None:
            from ansible_collections.novaops.compute.plugins.module_utils.ovs.ovsdb import OVS
            self._ovs = OVS.from_module(self.module)
        return self._ovs

    # -- the wanted domain ---------------------------------------------------------------------
    def build_desired(self, before):
        """Parameters over the recorded desired state; MACs resolved so they never change."""
        p = self.params
        recorded = before.get("desired") or {}
        uuid = before["uuid"]
        name = before["name"] or recorded.get("name")
        if not name:
            raise NovaopsError("No domain with UUID %s; give a name to create it." % uuid)
        desired = dict(name=check_domain_name(name), uuid=uuid)
        explicit = any(p[k] for k in SPEC_OPTIONS)
        for key in ("flavor", "image", "vnc"):
            desired[key] = p[key] if p[key] is not None else recorded.get(key)
        desired["image"] = shown_image(desired["image"])     # recorded and shown without credentials
        dx.check_vnc(p["vnc"])
        if desired["flavor"] is None:
            if before["state"] != "undefined":
                raise NovaopsError("Domain %s has no desired state recorded in its metadata (it was not made by "
                                   "this module); give flavor, image and vifs, or xml." % name)
            raise NovaopsError("Domain %s does not exist and no desired state is recorded for it; give a flavor "
                               "(and an image) to create it." % name)
        desired["volumes"] = p["volumes"] if p["volumes"] else recorded.get("volumes") or []
        vifs = p["vifs"] if p["vifs"] else recorded.get("vifs") or []
        desired["vifs"] = self._resolve_macs(vifs, before, recorded, uuid)
        desired["virt_type"] = p["virt_type"] if explicit or not recorded.get("virt_type") else recorded["virt_type"]
        desired["instances_path"] = p["instances_path"]
        desired["state"] = p["state"] if p["state"] != "defined" else recorded.get("state", "defined")
        desired["rescue_image"] = shown_image(p["rescue_image"] or recorded.get("rescue_image"))
        desired["ephemeral_format"] = p["ephemeral_format"] or recorded.get("ephemeral_format") or DEFAULT_FILESYSTEM
        return desired

    def _resolve_macs(self, vifs, before, recorded, uuid):
        """VIFs with MAC (and, for an OVS VIF given without one, libvirt's interface id) kept stable,
        and the tap named as Nova named it when flows key on it."""
        current = (before.get("config") or {}).get("vifs") or []
        old = recorded.get("vifs") or []
        out = []
        for index, vif in enumerate(vifs):
            vif = dict((k, v) for k, v in vif.items() if v is not None)
            vif.setdefault("type", "ovs")
            vif.setdefault("model", "virtio")
            match = [c for c in current if vif.get("id") and c.get("id") == vif["id"]] or \
                [o for o in old if vif.get("id") and o.get("id") == vif["id"]]
            if not match and index < len(current) and not vif.get("id"):
                match = [current[index]]
            if not vif.get("mac"):
                vif["mac"] = match[0]["mac"] if match and match[0].get("mac") else \
                    dx.stable_mac(uuid, vif.get("id") or index)
            vif["mac"] = vif["mac"].lower()
            wired = vif.get("anti_spoofing") or vif.get("qos")
            if wired and vif.get("id"):
                vif["dev"] = tap_name(vif["id"])
            elif vif["type"] == "ovs" and not vif.get("id") and match and match[0].get("id"):
                vif["id"] = match[0]["id"]     # libvirt made one up at the first define; keep it
            check_vif(vif)
            out.append(vif)
        devs = [v["dev"] for v in out if v.get("dev")]
        if len(devs) != len(set(devs)):
            raise NovaopsError("Two VIFs would get the same tap name (%s): their ids share the first 11 characters."
                               % ", ".join(sorted(d for d in devs if devs.count(d) > 1)))
        return out

    def layout(self, desired, rescued):
        """[(name or None, path, format, size_bytes or None, bus, role)] of the domain's disks, in target order."""
        idir = self.idir
        flavor = desired["flavor"]
        disks = []
        if rescued:
            disks.append((inst.RESCUE, idir.file(inst.RESCUE), "qcow2", None, "virtio", "rescue"))
        if desired.get("image"):
            disks.append((inst.ROOT, idir.file(inst.ROOT), "qcow2", (flavor.get("root_gb") or 0) * GiB or None,
                          "virtio", "root"))
        if flavor["vcpus"] < 1 or flavor["memory_mb"] < 1:
            raise NovaopsError("A flavor needs at least 1 vCPU and 1 MiB (vcpus %s, memory_mb %s)." % (
                flavor["vcpus"], flavor["memory_mb"]))
        for key in ("root_gb", "ephemeral_gb", "swap_mb"):
            if (flavor.get(key) or 0) < 0:
                raise NovaopsError("The flavor's %s cannot be negative (%s)." % (key, flavor[key]))
        if flavor.get("ephemeral_gb"):
            disks.append((inst.LOCAL, idir.file(inst.LOCAL), "qcow2", flavor["ephemeral_gb"] * GiB, "virtio", "local"))
        if flavor.get("swap_mb"):
            disks.append((inst.SWAP, idir.file(inst.SWAP), "qcow2", flavor["swap_mb"] * MiB, "virtio", "swap"))
        for vol in desired.get("volumes") or []:
            if bool(vol.get("name")) == bool(vol.get("path")):
                raise NovaopsError("Each volume needs exactly one of name (a file in the instance directory) and "
                                   "path (an absolute path).")
            if vol.get("path") and not os.path.isabs(vol["path"]):
                raise NovaopsError("The volume path %r is not absolute." % vol["path"])
            # no link anywhere in its path, nor a FIFO or hard-linked file there
            if vol.get("name"):
                path = idir.file(vol["name"])
            else:
                path = check_plain_file(vol["path"], "volumes[].path", missing_ok=True)
            if vol.get("size_mb") is not None and vol["size_mb"] < 1:
                raise NovaopsError("The volume %s: size_mb must be at least 1, not %s." % (path, vol["size_mb"]))
            disks.append((vol.get("name"), path, vol.get("format") or "qcow2",
                          vol["size_mb"] * MiB if vol.get("size_mb") else None, vol.get("bus") or "virtio", "volume"))
        return disks

    def spec(self, desired, disks):
        counters = {}
        spec_disks = []
        for _name, path, fmt, _size, bus, _role in disks:
            key = "sd" if bus in ("scsi", "sata") else bus
            index = counters.get(key, 0)
            counters[key] = index + 1
            spec_disks.append(dict(path=path, format=fmt, bus=bus, target=dx.disk_target(index, bus)))
        flavor = desired["flavor"]
        return dict(name=desired["name"], uuid=desired["uuid"], virt_type=desired["virt_type"],
                    vcpus=flavor["vcpus"], memory_mb=flavor["memory_mb"], disks=spec_disks,
                    vifs=desired["vifs"], vnc=desired.get("vnc"), metadata=desired)

    def operation_lock(self, before):
        """The instance directory's lock file and the domain's mark (both from when they exist, for a new
        instance); a hard reboot takes a stale one over."""
        p = self.params
        return LibvirtOperationLock(
            self.conn, "Domain %s" % (before["name"] or before["uuid"]),
            "libvirt_domain hard_reboot" if p["hard_reboot"] else "libvirt_domain %s" % p["state"], p,
            instance_dir=before.get("instance_dir"), uuid=before["uuid"], takeover=p["hard_reboot"],
            xml=self.read_xml)

    # -- planning ------------------------------------------------------------------------------
    def plan(self, before, plan):
        p = self.params
        self.planned_stop = None
        if p["state"] == "undefined":
            return self.plan_undefined(before, plan)
        if p["xml"]:
            return self.plan_xml(before, plan)
        self.idir = inst.InstanceDir(p["instances_path"], before["uuid"])
        self.check_instance_known(before)
        desired = self.build_desired(before)
        change = self.transition(before, desired)
        # fetched from what was given (credentials and all), else from the recorded image
        root_ref = ImageRef.from_params(p["image"] or desired.get("image"))
        rescue_ref = ImageRef.from_params(p["rescue_image"] or desired.get("rescue_image"), "rescue_image") \
            if change.want_rescue else None
        disks = self.layout(desired, change.want_rescue)
        self.check_disks(before, disks, root_ref, rescue_ref)
        fit_after_fetch = self.check_root_fits(before, disks, root_ref, desired["flavor"])
        spec = self.spec(desired, disks)
        wanted_view = dx.config_view(dx.spec_facts(spec))
        self.desired = desired
        change.check_target(p["state"])
        resizes, remakes = self.plan_files(plan, before, desired, disks, root_ref, rescue_ref, fit_after_fetch)
        state, stop_first = self.plan_stop(plan, before, change, wanted_view, resizes or remakes)
        self.plan_disk_changes(plan, desired, change, state, resizes, remakes)
        self.plan_definition(plan, before, desired, spec, wanted_view, stop_first)
        if change.unrescues:
            plan.add("remove_rescue_files", self.remove_rescue_files)
        state = self.plan_state(plan, state, p["state"], hard=change.hard_reboot)
        self.plan_wiring(plan, desired, before, state)
        if change.hard_reboot:
            unplugged = [v.get("mac") for v in before.get("vifs") or [] if "ovs_port" in v and v["ovs_port"] is None]
            self.repair = (dict(name=desired["name"], state=before["state"], unplugged=unplugged,
                                had_config=before["config"] is not None), plan)
        if p["autostart"] is not None and p["autostart"] != before.get("autostart"):
            plan.add("set_autostart", self.set_autostart, p["autostart"])
        expected = dict(before)
        expected.update(name=desired["name"], uuid=desired["uuid"], state=state, config=wanted_view,
                        desired=desired, rescued=change.want_rescue, persistent=True,
                        autostart=p["autostart"] if p["autostart"] is not None else before.get("autostart"))
        return expected

    def check_instance_known(self, before):
        """Rescue, unrescue and hard reboot work on an instance: a name or UUID that matches no domain and no
        instance directory's record is an error naming what was given, never a new instance."""
        p = self.params
        if not (p["hard_reboot"] or p["rescue"] is not None) or before["state"] != "undefined" or before.get("desired"):
            return
        ImageRef.from_params(p["image"])                      # a fault of the options' own values is named first
        ImageRef.from_params(p["rescue_image"], "rescue_image")
        operation = "hard reboot" if p["hard_reboot"] else "rescue" if p["rescue"] else "unrescue"
        role = "hard_reboot" if p["hard_reboot"] else "rescue"
        if p["uuid"]:
            given, where = "with UUID %s (uuid)" % p["uuid"], "uuid (in the hard_reboot role hard_reboot_uuid, " \
                "by default the inventory variable instance_uuid)"
        else:
            given, where = "named %r (name)" % p["name"], "name (in the %s role %s_name, by default the inventory " \
                "variable instance_name, else the inventory host name)" % (role, role)
        raise NovaopsError("No domain %s exists at %s, and no instance directory in %s records one: there is no "
                           "instance to %s (the domain does not exist). Check the %s. Nothing was changed."
                           % (given, self.conn.uri, p["instances_path"], operation, where))

    def transition(self, before, desired):
        """Rescue, unrescue and hard reboot: decided here, refused here before anything changes."""
        p = self.params
        change = Transition(before.get("rescued", False), p["rescue"], p["hard_reboot"], p["force"],
                            desired["name"])
        if change.hard_reboot or change.rescue_changes:
            resize_record.refuse_during(self.idir, "Domain %s" % desired["name"], change.operation)
        if change.want_rescue and not desired.get("rescue_image"):
            raise NovaopsError("Rescue needs rescue_image.")
        return change

    def plan_files(self, plan, before, desired, disks, root_ref, rescue_ref, fit_after_fetch=None):
        """Images, the instance directory and missing disks, before any downtime; returns the disks that
        grow ``[(name, path, format, size)]`` and the swap disks made again ``[(name, path, role)]``.
        ``fit_after_fetch``: the root disk's flavor size, when the image's size is known only once fetched."""
        for ref in (root_ref, rescue_ref):
            if ref is not None and not self.cache.present(ref):
                ref.check_source()                                  # nor the image file one
                self.cache.check_clear(base_name(ref.image_id))     # nothing planted where the fetch writes
                plan.add("fetch_image", self.fetch, ref, fit_after_fetch if ref is root_ref else None,
                         desired["flavor"])
        if not self.idir.exists:
            plan.add("create_instance_dir", self.create_instance_dir)
        resizes, remakes, bases_planned = [], [], set()
        current_files = dict((d["path"], d) for d in before.get("disks") or [])
        for name, path, fmt, size, _bus, role in disks:
            have = current_files.get(path) or self.file_facts(path, fmt)
            if have is None:
                self.plan_new_disk(plan, desired, bases_planned, name, path, fmt, size, role,
                                   root_ref if role == "root" else rescue_ref)
                continue
            backing = have.get("backing")
            if role in ("local", "swap") and backing and not self.base_present(backing):
                # a base deleted from _base: made again, byte for byte (ephemeral.py), before any downtime
                self.plan_local_base(plan, os.path.basename(backing), bases_planned, missing_for=path)
            grows = size and have.get("virtual_size") is not None and size > have["virtual_size"]
            if grows and role == "swap":
                # swap is made again at the new size (mkswap), not grown: the old signature would keep the old size
                self.plan_local_base(plan, self.local_base_name(desired, role), bases_planned)
                remakes.append((name, path, role))
            elif grows:
                resizes.append((name, path, fmt, size))
        return resizes, remakes

    def plan_new_disk(self, plan, desired, bases_planned, name, path, fmt, size, role, ref):
        if role in ("root", "rescue"):
            plan.add("create_%s" % name, self.create_overlay, ref, name, size)
        elif role in ("local", "swap"):
            self.plan_local_base(plan, self.local_base_name(desired, role), bases_planned)
            plan.add("create_%s" % name, self.create_local_disk, desired, role, name)
        elif size:
            plan.add("create_%s" % (name or os.path.basename(path)), self.create_volume, name, path, fmt, size)
        else:
            raise NovaopsError("The volume %s does not exist and no size_mb is given to create it." % path)

    def plan_stop(self, plan, before, change, wanted_view, disks_change):
        """Whether the domain stops first (and how), and what becomes of a managed save; returns the power
        state after that and whether it was stopped for the change."""
        p = self.params
        state = before["state"]
        active = state in ACTIVE
        config_differs = self.config_differs(before, wanted_view)
        live_differs = active and before.get("live") is not None and \
            _no_vnc_port(wanted_view) != _no_vnc_port(_without_name(before["live"], wanted_view))
        needs_restart = active and (live_differs or (config_differs and before["config"] is not None)) or \
            (change.rescue_changes and active) or bool(disks_change and active and (p["force"] or change.hard_reboot))
        if state == "saved" and (config_differs or change.rescue_changes or disks_change) and \
                before["config"] is not None:
            # the saved memory refers to the disks as they are: growing or remaking one under it is not safe
            if not p["force"]:
                raise NovaopsError("Domain %s has a managed-save image; changing its configuration or disks discards "
                                   "it. Use force=true." % self.desired["name"])
            plan.add("discard_managed_save", self.discard_managed_save)
            state = "shutoff"
        stop_first = change.hard_reboot or (needs_restart and (p["force"] or change.rescue_changes))
        change.check_power(active)
        if stop_first and active:
            # Nova's rescue, unrescue and hard reboot destroy the domain (a rescued guest is broken: waiting for
            # its clean shutdown only waits out the timeout); a restart for a new configuration asks the guest
            if change.hard_reboot or change.rescue_changes:
                plan.add("destroy", self.destroy)
                self.planned_stop = "forced"
            else:
                plan.add("shutdown", self.shutdown)
            state = "shutoff"
        if live_differs and not stop_first:
            self.pending_restart = True
        return state, stop_first

    def config_differs(self, before, wanted_view):
        return before["config"] is None or wanted_view != _without_name(before["config"], wanted_view)

    def plan_disk_changes(self, plan, desired, change, state, resizes, remakes):
        """The rescue's saved XML, then disks grown (online when the domain runs) and swap made again."""
        active = state in ACTIVE
        if change.rescues:
            plan.add("save_unrescue_xml", self.save_unrescue_xml)
        for name, path, fmt, size in resizes:
            if active:
                plan.add("grow_%s" % (name or os.path.basename(path)), self.grow_live, path, size)
            else:
                plan.add("grow_%s" % (name or os.path.basename(path)), self.qemu_img.resize, path, size, fmt)
        for name, path, role in remakes:
            if active:
                self.pending_restart = True
                self.module.warn("Domain %s runs; %s grows (made again at the new size) when it is shut down or "
                                 "restarted by this module (force=true or hard_reboot)." % (desired["name"], name))
            else:
                plan.add("recreate_%s" % name, self.create_local_disk, desired, role, name, True)

    def plan_definition(self, plan, before, desired, spec, wanted_view, stop_first):
        """Defined when the XML differs from libvirt's copy (a hard reboot regenerates it too; redefining an
        identical config costs a full QEMU capabilities check in libvirtd), else the metadata refreshed."""
        config_differs = self.config_differs(before, wanted_view)
        if config_differs or before["persistent"] is False:
            plan.add("define", self.define, dx.build_domain_xml(spec))
        elif before.get("desired") != desired:
            plan.add("set_metadata", self.set_metadata, desired)
        if config_differs and before["state"] in ACTIVE and not stop_first:
            self.pending_restart = True
            self.module.warn("Domain %s runs with the old configuration; the new one applies at its next start "
                             "(use force=true to restart it now)." % desired["name"])

    def check_root_fits(self, before, disks, root_ref, flavor):
        """Nova's "Flavor's disk is too small for requested image": a root disk still to be made that the image
        does not fit is refused before anything is created. The image's virtual size is read from its base when
        it is cached, else from Glance's virtual_size (or size) before the download; returns the root size when
        the image is known only once fetched (an image URL or file): the fetch then checks it, first."""
        root = [d for d in disks if d[5] == "root"]
        if root_ref is None or not root or not root[0][3]:
            return None                   # root_gb 0: the disk takes the image's size
        _name, path, fmt, size = root[0][:4]
        if any(d["path"] == path for d in before.get("disks") or []) or self.file_facts(path, fmt) is not None:
            return None                   # an existing disk: check_disks refuses a shrink
        if self.cache.present(root_ref):
            info = self.cache.base_info(base_name(root_ref.image_id))
            check_flavor_fits(flavor, size, info.get("virtual-size"), root_ref, "its virtual size, of %s"
                              % self.cache.path_for(root_ref))
        elif root_ref.glance_id:
            image = self.glance_image(root_ref.glance_id)
            if image.get("virtual_size"):
                check_flavor_fits(flavor, size, image["virtual_size"], root_ref, "its virtual_size in Glance")
            elif image.get("size") and image.get("container_format") != "ovf":
                # (a VHD tarball's size tells nothing of its disk's: checked once flattened)
                check_flavor_fits(flavor, size, image["size"], root_ref, "its size in Glance")
            else:
                return size
        else:
            return size
        return None

    def glance_image(self, image_id):
        """Glance's record of an image, read once per run."""
        if image_id not in self._glance_images:
            self._glance_images[image_id] = GlanceClient.from_params(self.params.get("glance")).get_image(image_id)
        return self._glance_images[image_id]

    def check_disks(self, before, disks, root_ref, rescue_ref):
        """Refuse shrinks and image changes before anything is touched."""
        current = dict((d["path"], d) for d in before.get("disks") or [])
        for name, path, fmt, size, _bus, role in disks:
            have = current.get(path) or self.file_facts(path, fmt)
            if have is None:
                continue
            if size and have.get("virtual_size") and size < have["virtual_size"]:
                raise NovaopsError("Refusing to shrink %s from %d to %d bytes; disks only grow." % (
                    path, have["virtual_size"], size))
            ref = root_ref if role == "root" else (rescue_ref if role == "rescue" else None)
            if ref is not None and have.get("backing") and \
                    os.path.normpath(have["backing"]) != os.path.normpath(self.cache.path_for(ref)):
                raise NovaopsError("%s is backed by %s, not by the image %s (%s); changing the image of an "
                                   "instance (a rebuild) is not supported." % (
                                       path, have["backing"], ref.image_id, self.cache.path_for(ref)))

    def plan_state(self, plan, state, target, hard=False):
        dom_name = self.desired["name"] if self.desired else self.params["name"]
        if target == "defined":
            target = "running" if hard else None
            if target is None:
                return state if state != "undefined" else "shutoff"
        if state in ("shutdown",):
            state = "running"
        if target == "running":
            if state in ("shutoff", "crashed", "saved", "undefined"):
                plan.add("start", self.start)
            elif state == "paused":
                plan.add("resume", self.resume)
            elif state == "pmsuspended":
                plan.add("wakeup", self.wakeup)
            return "running"
        if target == "paused":
            if state in ("shutoff", "crashed", "saved", "undefined"):
                plan.add("start_paused", self.start, True)
            elif state != "paused":
                plan.add("suspend", self.suspend)
            return "paused"
        if target == "shutdown":
            if state == "saved":
                if not self.params["force"]:
                    raise NovaopsError("Domain %s has a managed-save image; shutting it down discards it. "
                                       "Use force=true." % dom_name)
                plan.add("discard_managed_save", self.discard_managed_save)
            elif state in ACTIVE:
                plan.add("shutdown", self.shutdown)
            return "shutoff"
        if target == "saved":
            if state in ("shutoff", "crashed", "undefined"):
                plan.add("start", self.start)
            if state != "saved":
                plan.add("managed_save", self.managed_save)
            return "saved"
        return state

    def plan_wiring(self, plan, desired, before, state):
        """Nova's plug_vifs: a running domain's OVS ports, flows and queues as its VIFs want them.

        After a start libvirt plugs the ports itself and ``wire_vifs`` re-checks the flows and
        queues (the port may have another ofport now); on a domain that stays up, what is
        missing is planned one by one, so that a healthy one plans nothing.
        """
        if state not in ("running", "paused"):
            return
        vifs = [v for v in desired["vifs"] if v.get("type") == "ovs" and v.get("id")]
        if not vifs:
            return
        if "start" in plan.names or "start_paused" in plan.names:
            wired = [v for v in vifs if v.get("anti_spoofing") or v.get("qos")]
            for vif in wired:
                self.wiring(vif, vif["dev"]).read()     # a missing bridge or uplink fails now, not after the start
            if wired:
                plan.add("wire_vifs", self.wire_vifs, wired)
            return
        live = dict(((v.get("mac") or "").lower(), v) for v in before.get("vifs") or [])
        for vif in vifs:
            seen = live.get(vif["mac"])
            if seen is None or not seen.get("target"):
                continue      # not in the running domain yet: its new configuration applies at the next start
            wiring = self.wiring(vif, seen["target"])
            facts = wiring.read()
            if not facts["plugged"]:
                plan.add("plug_vif", wiring.plug, detail=vif["id"])
            if facts["flows"] is False:
                plan.add("vif_flows", wiring.apply_flows, detail=vif["id"])
            if facts["queue"] is False:
                plan.add("vif_queue", wiring.apply_queue, detail=vif["id"])

    def wiring(self, vif, dev):
        """The VifWiring of a VIF whose tap is ``dev`` now; flows and queue only when that is its own tap."""
        if vif.get("dev") and vif["dev"] != dev:
            self.module.warn("VIF %s runs on %s, not on its own tap %s yet; its flows and queue follow at the next "
                             "start." % (vif["id"], dev, vif["dev"]))
            vif = dict(vif, anti_spoofing=False, qos=None)
        return VifWiring(self.ovs(), dict(vif, dev=dev), self.desired["uuid"], timeout=self.params["timeout"])

    def wire_vifs(self, vifs):
        live = dict((v["mac"], v.get("target")) for v in dx.parse_domain_xml(self.dom().XMLDesc(0))["vifs"])
        for vif in vifs:
            if not (vif.get("anti_spoofing") or vif.get("qos")) or not live.get(vif["mac"]):
                continue
            wiring = self.wiring(vif, live[vif["mac"]])
            if vif.get("anti_spoofing"):
                wiring.apply_flows()
            if vif.get("qos"):
                wiring.apply_queue()

    def unwire_vifs(self, uuid, vifs):
        for vif in vifs:
            VifWiring(self.ovs(), vif, uuid, timeout=self.params["timeout"]).unwire()

    def plan_undefined(self, before, plan):
        expected = dict(before, state="undefined", config=None, live=None)
        if before["state"] != "undefined":
            if before["state"] in ACTIVE:
                plan.add("destroy", self.destroy)
                self.planned_stop = "forced"
            wired = [v for v in (before.get("desired") or {}).get("vifs") or []
                     if v.get("dev") and (v.get("anti_spoofing") or v.get("qos"))]
            if wired:
                plan.add("unwire_vifs", self.unwire_vifs, before["uuid"], wired)
            plan.add("undefine", self.undefine)
        idir = inst.InstanceDir(self.params["instances_path"], before["uuid"]) \
            if self.params["delete_disks"] and before.get("instance_dir") else None
        if idir is not None and idir.exists:
            plan.add("delete_instance_dir", idir.root.rmtree, idir.uuid)
            expected["disks"] = []
        return expected

    def plan_xml(self, before, plan):
        wanted = dx.parse_domain_xml(self.params["xml"])
        if self.params["name"] and wanted["name"] != self.params["name"]:
            raise NovaopsError("The XML names the domain %s, not %s." % (wanted["name"], self.params["name"]))
        view = dx.config_view(wanted)
        have = before["config"]
        cmp_view = dict(view)
        if not cmp_view.get("uuid") and have:
            cmp_view["uuid"] = have.get("uuid")
        state = before["state"]
        self.desired = None
        if self.params["hard_reboot"] and state in ACTIVE:
            plan.add("destroy", self.destroy)
            self.planned_stop = "forced"
            state = "shutoff"
        if have is None or cmp_view != have or self.params["hard_reboot"]:
            plan.add("define", self.define, self.params["xml"])
            if state in ACTIVE:
                self.pending_restart = True
        state = self.plan_state(plan, "shutoff" if state == "undefined" else state, self.params["state"],
                                hard=self.params["hard_reboot"])
        return dict(before, name=wanted["name"], state=state, config=cmp_view)

    # -- actions -------------------------------------------------------------------------------
    def dom(self):
        dom = self.lookup() if self.params["name"] or self.params["uuid"] else None
        if dom is None and self.desired:
            dom = self.conn.lookup(name=self.desired["name"])
        if dom is None and self.params["xml"]:
            dom = self.conn.lookup(name=dx.parse_domain_xml(self.params["xml"])["name"])
        if dom is None:
            raise NovaopsError("Domain %s vanished during the run." % (self.params["name"] or self.params["uuid"]))
        return dom

    def fetch(self, ref, root_bytes=None, flavor=None):
        """The image into _base; with root_bytes, a root disk of that size must hold it (checked before the
        instance directory is made: the fetch comes first)."""
        self.image_result = self.cache.ensure(ref)
        if root_bytes:
            check_flavor_fits(flavor, root_bytes, self.image_result.get("virtual_size"), ref, "its virtual size")

    def create_overlay(self, ref, name, size):
        self.cache.create_overlay(base_name(ref.image_id), self.idir.root, self.idir.rel(name), size)

    def create_volume(self, name, path, fmt, size):
        """A new volume: its file made here first (O_EXCL, no link followed), then written by qemu-img."""
        if name:
            path = self.idir.reserve(name)
        else:
            root, rel = plain_file(path, "volumes[].path")
            path = root.reserve(rel)
        try:
            self.qemu_img.create(path, fmt, size)
        except BaseException:
            if name:
                self.idir.remove(name)
            else:
                root.unlink(rel)
            raise

    def base_present(self, backing):
        """Whether a disk's backing file is there (in _base: a link or FIFO there is refused)."""
        if os.path.dirname(os.path.normpath(backing)) == self.cache.base_dir:
            return self.cache.has(os.path.basename(backing))
        return os.path.lexists(backing)

    @staticmethod
    def local_base_name(desired, role):
        flavor = desired["flavor"]
        if role == "local":
            return ephemeral_base_name(flavor["ephemeral_gb"], desired.get("ephemeral_format") or DEFAULT_FILESYSTEM)
        return swap_base_name(flavor["swap_mb"])

    def file_facts(self, path, fmt):
        """Virtual size and backing file of a disk file of format fmt (read once per run), None when there is none."""
        if not os.path.lexists(path):
            return None
        if path not in self._file_facts:       # read once per run (checked, then planned)
            check_plain_file(path, "the disk")
            info = self.qemu_img.info(path, fmt)
            self._file_facts[path] = dict(path=path, virtual_size=info.get("virtual-size"),
                                          backing=backing_file_of(info))
        return self._file_facts[path]

    def plan_local_base(self, plan, name, planned, missing_for=None):
        """Plan making an ephemeral or swap base unless it is there (or planned already)."""
        if name in planned or self.cache.has(name):
            return
        if parse_base_name(name) is None:
            raise NovaopsError("%s is backed by %s, which is gone and is not a base this module can make again." % (
                missing_for or "A disk", self.bases.path_of(name)))
        self.cache.check_clear(name)      # nothing planted where making it writes
        planned.add(name)
        plan.add("create_%s_base" % ("ephemeral" if name.startswith("ephemeral_") else "swap"),
                 self.make_local_base, name)

    def make_local_base(self, name):
        if self.bases.ensure_by_name(name) is None:
            raise NovaopsError("%s is not the name of an ephemeral or swap base." % name)

    def create_local_disk(self, desired, role, name, replace=False):
        """disk.local or disk.swap: a qcow2 overlay on its base (Nova's Qcow2 image backend)."""
        base = self.local_base_name(desired, role)
        if replace:
            tmp = name + ".new"
            self.cache.create_overlay(base, self.idir.root, self.idir.rel(tmp), replace=True)
            self.idir.root.rename(self.idir.rel(tmp), self.idir.rel(name))
        else:
            self.cache.create_overlay(base, self.idir.root, self.idir.rel(name))

    def create_instance_dir(self):
        self.idir.create()
        self.lock.refresh()        # a new instance is locked from the moment it has a directory

    def define(self, xml):
        self.conn.conn.defineXML(xml)
        self.lock.refresh()        # the new definition has no mark yet
        if self.idir is not None and self.idir.exists:
            self.idir.write(inst.LIBVIRT_XML, xml)

    def set_metadata(self, desired):
        dom = self.dom()
        flags = 2 | (1 if dom.isActive() else 0)
        dom.setMetadata(2, dx.metadata_xml(desired), dx.PREFIX, dx.NAMESPACE, flags)
        if self.idir is not None and self.idir.exists:
            self.idir.write(inst.LIBVIRT_XML, dom.XMLDesc(2))

    def save_unrescue_xml(self):
        dom = self.dom()
        self.idir.write(inst.UNRESCUE_XML, dom.XMLDesc(2))

    def remove_rescue_files(self):
        self.idir.remove(inst.RESCUE)
        self.idir.remove(inst.UNRESCUE_XML)

    def start(self, paused=False):
        """Start (or restore) the domain and wait for it.

        A start right after QEMU was killed can fail while the dead process is still being torn
        down ("process exited while connecting to monitor"); it is retried within the timeout.
        """
        dom = self.dom()
        deadline = time.monotonic() + self.params["timeout"]
        while True:
            try:
                dom.createWithFlags(1 if paused else 0)
                break
            except Exception as exc:  # pylint: disable=broad-except
                if not is_libvirt_error(exc) or exc.get_error_code() not in (1, 9) or \
                        time.monotonic() + 1 >= deadline or dom.isActive():
                    raise
                self.module.warn("Starting %s failed (%s); retrying." % (dom.name(), exc.get_error_message()))
                time.sleep(1)
        wait_for_state(dom, "paused" if paused else "running", max(deadline - time.monotonic(), 1))
        if not paused:
            self.check_ovs_ports(dom)

    def check_ovs_ports(self, dom):
        facts = dx.parse_domain_xml(dom.XMLDesc(0))
        missing = []
        for vif in facts["vifs"]:
            if vif.get("virtualport") == "openvswitch" and vif.get("id"):
                if not vif_ovs_ports(self.ovs(), vif["id"], vif.get("mac")):
                    missing.append(vif["id"])
        if missing:
            raise NovaopsError("Domain %s started but its OVS ports for %s are missing." % (
                dom.name(), ", ".join(missing)), missing_ports=missing)

    def _change_to(self, change, state):
        """``change(dom)``, then the wait until libvirt shows the domain in ``state``."""
        dom = self.dom()
        change(dom)
        wait_for_state(dom, state, self.params["timeout"])

    def resume(self):
        self._change_to(lambda dom: dom.resume(), "running")

    def wakeup(self):
        self._change_to(lambda dom: dom.pMWakeup(0), "running")

    def suspend(self):
        self._change_to(lambda dom: dom.suspend(), "paused")

    def managed_save(self):
        self._change_to(lambda dom: dom.managedSave(0), "saved")

    def discard_managed_save(self):
        self.dom().managedSaveRemove(0)

    def shutdown(self):
        """Clean ACPI shutdown within the timeout; then destroy if force, else fail clearly."""
        dom = self.dom()
        name, _reason = domain_state(dom)
        if name == "paused":
            if not self.params["force"]:
                raise NovaopsError("Domain %s is paused; a clean shutdown needs it running. Use force=true to "
                                   "destroy it." % dom.name())
            return self.destroy()
        dom.shutdown()
        try:
            wait_for_state(dom, ["shutoff", "crashed"], self.params["timeout"],
                           what="domain %s to shut down cleanly" % dom.name())
            self.stopped = "clean"
        except NovaopsError:
            if not self.params["force"]:
                raise
            self.destroy()

    def destroy(self):
        dom = self.dom()
        if dom.isActive():
            dom.destroy()
            self.stopped = "forced"
        wait_for_state(dom, ["shutoff", "crashed"], self.params["timeout"])

    def grow_live(self, path, size):
        dom = self.dom()
        for disk in dx.parse_domain_xml(dom.XMLDesc(0))["disks"]:
            if disk["path"] == path:
                dom.blockResize(disk["target"], size, 1)
                return
        raise NovaopsError("Disk %s is not attached to the running domain %s." % (path, dom.name()))

    def undefine(self):
        dom = self.dom()
        try:
            dom.undefineFlags(1 | 4)
        except Exception:  # pylint: disable=broad-except
            dom.undefineFlags(1)

    def set_autostart(self, value):
        self.dom().setAutostart(1 if value else 0)

    # -- results -------------------------------------------------------------------------------
    def result(self, facts):
        out = dict(domain=self.public(facts), pending_restart=self.pending_restart,
                   shutdown=self.planned_stop if self.module.check_mode else self.stopped)
        if self.image_result:
            out["image"] = self.image_result
        if self.repair is not None:
            out["summary"] = self.repair_summary(*self.repair)
        return out

    def repair_summary(self, seen, plan):
        """What the hard reboot found broken (``seen`` before it) and what it did, in one line."""
        differed = "define" in plan.names and seen["had_config"] and seen["state"] != "undefined"
        found = repairs.findings(seen["state"], plan.names, seen["unplugged"], differed)
        return repairs.summary("Domain %s" % seen["name"], found, plan.names, self.module.check_mode)

    def public(self, facts):
        view = dict((k, v) for k, v in facts.items() if k not in ("live", "persistent"))
        if self.desired and self.desired.get("image"):
            ref = ImageRef.from_params(self.desired["image"])
            view["base"] = dict(path=self.cache.path_for(ref), present=self.cache.present(ref))
        return view

    def diff_view(self, facts):
        if facts is None:
            return {}
        return dict(state=facts.get("state"), config=facts.get("config"), rescued=facts.get("rescued"),
                    autostart=facts.get("autostart"))


def _without_name(view, wanted):
    """A current view with the fields the wanted one does not decide taken from the wanted one."""
    out = dict(view)
    out["name"] = wanted.get("name")
    return out


def _no_vnc_port(view):
    out = dict(view)
    if out.get("vnc"):
        out["vnc"] = dict(out["vnc"], port=None)
    return out


def main():
    run_on_host(argument_spec(), Domain)


if __name__ == "__main__":
    main()

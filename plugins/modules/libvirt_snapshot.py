#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r'''
module: libvirt_snapshot
short_description: Snapshot a libvirt domain's disk into a Glance image, live (block copy) or cold
version_added: 0.1.0
description:
  - Takes a consistent copy of one disk of a libvirt/QEMU domain (its root disk unless O(disk) says otherwise),
    flattens it with C(qemu-img convert) into the requested O(format) and streams it into a new Glance v2 image,
    the way OpenStack Nova's libvirt driver snapshotted an instance.
  - B(live), while QEMU runs the domain (running or paused) - a fresh qcow2 overlay on the disk's own backing file
    is made in a private directory of O(snapshots_directory); the domain is made transient (undefined, its XML
    saved; libvirt copies disks of transient domains only), C(blockRebase) with COPY, REUSE_EXT and SHALLOW mirrors
    the disk's top layer into the overlay, the job is waited for until C(cur == end) (woken by libvirt's
    block job events, C(blockJobInfo) checked at least every second) and aborted without pivot, and the saved XML
    is defined again - always, also when the copy failed. Autostart is kept. The guest never stops.
  - >-
    When QEMU refuses the live block copy because a copy interrupted by a killed libvirtd left its target in
    this QEMU ("Duplicate nodes"), the leftovers are removed through the QEMU monitor (as with
    C(virsh qemu-monitor-command)) and the copy is tried once more, in the same QEMU - an orphan mirror job
    (only when libvirt knows no block job of the domain) is force-cancelled without pivot, and nodes named
    C(libvirt-<N>-format) / C(libvirt-<N>-storage) are deleted when N is no index of the live domain XML and
    their file lies in a per-run workspace of this domain in O(snapshots_directory), proof that an earlier run
    made them. Nothing else is touched. RV(cleaned_qemu_leftovers) lists them, a warning says so, and libvirt
    logs the domain as C(tainted: custom-monitor). Still refused, O(mode=auto) falls back to cold; should that
    fail too (such a QEMU may refuse to save its state), the message names the cause and the cure, a hard
    reboot.
  - >-
    When libvirt itself still knows such an interrupted copy (it had saved the job in the domain's status before it
    was killed, and found it again on restart), the disk is in a block job whose mirror file lies in a per-run
    workspace of O(snapshots_directory): that job is aborted without pivot before the new copy starts. A block job
    on the disk that writes anywhere else (another tool's copy, a migration) is refused, not touched.
  - B(cold), when the domain is shut off or saved, or with O(mode=cold) - a running or paused domain is
    managed-saved, the disk converted while nothing writes it, and the prior state restored (running stays
    running, paused stays paused, shut off stays shut off).
  - The image is created only once the data is ready, and deleted again when the upload fails. Temporary files
    live in a per-run directory (mode 0700, files 0600) of O(snapshots_directory) and are removed whatever happens.
  - Idempotent by image name plus the marker property C(novaops_snapshot=libvirt_snapshot) - an active image of that
    name and marker is not made again; a half image of an earlier failed run is deleted first. V(absent) deletes
    only images carrying the marker.
  - Refused, with nothing changed, while the instance directory of the disk (C(<instances_path>/<uuid>)) has a
    resize that is not over (C(<uuid>_resize), awaiting confirm or revert), as Nova refused a snapshot in
    C(RESIZED) - on the source, the disk is the original's, not the instance's.
author: novaops.compute maintainers (@novaops)
extends_documentation_fragment:
  - novaops.compute.libvirt
  - novaops.compute.operation_lock
  - novaops.compute.glance
  - novaops.compute.snapshot_image
attributes:
  check_mode:
    description: Reports the snapshot (and the mode it would use) or the deletions it would make; changes nothing.
    support: full
  diff_mode:
    description: Shows the images (name, status) and the domain's state before and after.
    support: full
options:
  name:
    description:
      - Name of the domain to snapshot. One of O(name) or O(uuid) is required with O(state=present).
    type: str
  uuid:
    description:
      - UUID of the domain to snapshot.
    type: str
  image_name:
    description:
      - Name of the Glance image.
    type: str
    required: true
  state:
    description:
      - V(present) the image exists and is active (snapshot and upload when it does not).
      - V(absent) images of that name made by this module are deleted; the domain is not needed.
    type: str
    choices: [ present, absent ]
    default: present
  disk:
    description:
      - The disk to snapshot, by target (V(vda)) or by source path.
      - Default is the domain's root disk, its first C(device='disk') with a file source.
    type: str
  mode:
    description:
      - V(auto) live while the domain runs or is paused, cold otherwise; cold too, with a warning, when QEMU
        refuses to start the live block copy (as Nova fell back from a live to a cold snapshot).
      - V(live) fails when the domain is not running or paused.
      - V(cold) managed-saves a running or paused domain for the copy and restores its state afterwards.
    type: str
    choices: [ auto, live, cold ]
    default: auto
  format:
    description:
      - Format of the image (also its Glance C(disk_format); C(container_format) is C(bare)).
    type: str
    choices: [ qcow2, raw, vmdk, vdi ]
    default: qcow2
  compress:
    description:
      - Compress the qcow2 clusters (C(qemu-img convert -c)); O(format=qcow2) only.
    type: bool
    default: false
  snapshots_directory:
    description:
      - Where the temporary overlay and image are made, in a per-run directory. Created with mode 0711 when missing.
      - For a live snapshot QEMU must be able to traverse it; a file system mounted there after the domain
        started is not visible inside QEMU's mount namespace.
      - Needs room for the disk's top layer plus the converted image.
    type: path
    default: /var/lib/nova/instances/snapshots
  bandwidth:
    description:
      - Limit of the live block copy in MiB/s, to spare the host's I/O; V(0) is no limit.
    type: int
    default: 0
  timeout:
    description:
      - Seconds to wait for the block copy to be ready, and for each state change of a cold snapshot
        (managed save, restore).
    type: int
    default: 600
  upload_timeout:
    description: Seconds the image may take to become active after its data is sent.
    type: int
    default: 3600
notes:
  - Usable with C(async)/C(poll); returns byte counts and durations.
  - The module is meant to run on the hypervisor (C(qemu-img) reads the disk files); O(uri) should be local.
  - A live snapshot of a domain with libvirt snapshot metadata fails (libvirt cannot undefine it); use O(mode=cold).
requirements:
  - qemu-img
seealso:
  - module: novaops.compute.libvirt_domain
  - module: novaops.compute.xen_snapshot
  - name: Nova's libvirt snapshot
    description: The operation this module carries over.
    link: https://opendev.org/openstack/nova
'''

EXAMPLES = r'''
- name: Live snapshot of web1's root disk into Glance
  novaops.compute.libvirt_snapshot:
    name: web1
    image_name: web1-2026-01-01
    properties:
      os_distro: debian
    glance:
      url: https://glance.example.com:9292
      token: "{{ keystone_token }}"

- name: Cold, compressed qcow2 of the second disk, Glance from clouds.yaml
  novaops.compute.libvirt_snapshot:
    uuid: 0b5e5c46-2c8b-4f5c-9b6e-3f1f6f0e6c71
    disk: vdb
    mode: cold
    compress: true
    image_name: db1-data-nightly
    glance:
      cloud: prod

- name: A long snapshot, in the background
  novaops.compute.libvirt_snapshot:
    name: big1
    image_name: big1-weekly
    format: raw
    bandwidth: 200
    glance:
      cloud: prod
  async: 7200
  poll: 30

- name: Delete that image again
  novaops.compute.libvirt_snapshot:
    image_name: web1-2026-01-01
    state: absent
    glance:
      cloud: prod
'''

RETURN = r'''
image_id:
  description: ID of the image.
  returned: state=present
  type: str
size:
  description: Size of the image data in Glance, in bytes.
  returned: state=present
  type: int
checksum:
  description: MD5 of the image data, as Glance computed it.
  returned: state=present
  type: str
mode:
  description:
    - V(live) or V(cold) - the mode used (or that would be, in check mode); for an image that existed already,
      the mode recorded on it.
  returned: state=present
  type: str
live_refused:
  description:
    - Why QEMU refused the live block copy when O(mode=auto) fell back to a cold snapshot (then RV(mode) is
      V(cold) and a warning says so), else null.
    - QEMU keeps a stale block node when libvirtd was killed during an earlier copy ("Duplicate nodes"); the
      managed save and restore of the cold snapshot starts a new QEMU, which clears it.
  returned: state=present
  type: str
cleaned_qemu_leftovers:
  description:
    - What an interrupted earlier block copy had left in the domain's QEMU and this run removed through the QEMU
      monitor before its live copy (C(block job <id>), C(node <name>)); empty when nothing was.
  returned: state=present
  type: list
  elements: str
  sample: ["block job copy-vda-libvirt-1-format", "node libvirt-5-format", "node libvirt-5-storage"]
bytes:
  description: Bytes sent to Glance by this run (0 when nothing was uploaded).
  returned: always
  type: int
durations:
  description: Seconds each step of this run took (0 for steps not taken).
  returned: always
  type: dict
  contains:
    block_copy: {description: The live block copy until it was ready and aborted., type: float}
    downtime: {description: Seconds a cold snapshot kept the domain from running (managed save to restored)., type: float}
    convert: {description: C(qemu-img convert) into the image format., type: float}
    upload: {description: The streamed upload until the image was active and verified., type: float}
duration:
  description: Seconds the whole module took.
  returned: always
  type: float
block_copy:
  description: How the live block copy went (empty when there was none).
  returned: always
  type: dict
  contains:
    bytes: {description: Bytes the copy job mirrored (libvirt's C(end))., type: int}
    waited: {description: Seconds waited for the job to be ready., type: float}
    woken_by_events: {description: How often a block job event ended the wait early (0 when polled)., type: int}
domain:
  description: The domain as a user sees it after the run.
  returned: state=present
  type: dict
  contains:
    name: {description: Domain name., type: str}
    uuid: {description: Domain UUID., type: str}
    state: {description: "Run state (running, paused, shutoff, saved, ...).", type: str}
    persistent: {description: Whether the domain is defined (not transient)., type: bool}
disk:
  description: The disk that was (or would be) snapshotted.
  returned: state=present
  type: dict
  contains:
    target: {description: Its target (vda)., type: str}
    path: {description: Its source file., type: str}
    format: {description: Its format., type: str}
images:
  description: The images of that name carrying the marker.
  returned: always
  type: list
  elements: dict
  contains:
    id: {description: Image ID., type: str}
    name: {description: Image name., type: str}
    status: {description: Image status., type: str}
    size: {description: Size in bytes., type: int}
    checksum: {description: MD5 of the data., type: str}
    disk_format: {description: Glance disk_format., type: str}
    mode: {description: The snapshot mode recorded on the image., type: str}
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
  description: Names of the actions taken (or that would be, in check mode).
  returned: always
  type: list
  elements: str
'''

import os
import signal
import time

from ansible_collections.novaops.compute.plugins.module_utils.common.uuids import check_uuid
from ansible_collections.novaops.compute.plugins.module_utils.libvirt import qemu_leftovers
from ansible_collections.novaops.compute.plugins.module_utils.libvirt import resize_record
from ansible_collections.novaops.compute.plugins.module_utils.common.argspec import ArgumentSpec
from ansible_collections.novaops.compute.plugins.module_utils.common import input_rules as rules
from ansible_collections.novaops.compute.plugins.module_utils.disks.diskops import QemuImg
from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError
from ansible_collections.novaops.compute.plugins.module_utils.glance.client import GlanceClient, glance_argument_spec
from ansible_collections.novaops.compute.plugins.module_utils.libvirt.instance_dir import InstanceDir
from ansible_collections.novaops.compute.plugins.module_utils.common.confined import check_plain_file
from ansible_collections.novaops.compute.plugins.module_utils.libvirt.connection import (
    LibvirtConnection, LibvirtError, is_libvirt_error, libvirt_argument_spec, quiet_libvirt_errors)
from ansible_collections.novaops.compute.plugins.module_utils.libvirt.operation_lock import (
    LibvirtOperationLock, nova_instance_dir)
from ansible_collections.novaops.compute.plugins.module_utils.libvirt.snapshot import (
    CopyNotStarted, SnapshotWorkspace, choose_mode, create_overlay, domain_facts, live_copy, live_disk, quiesced)
from ansible_collections.novaops.compute.plugins.module_utils.glance.marked_image import (
    MARKER, image_argument_spec, plan_deletion, plan_marked_image)
from ansible_collections.novaops.compute.plugins.module_utils.common.module import NovaopsModule
from ansible_collections.novaops.compute.plugins.module_utils.common.operation_lock import lock_argument_spec
from ansible_collections.novaops.compute.plugins.module_utils.common.plan import Manager

MARKER_VALUE = "libvirt_snapshot"
MODE_PROPERTY = "novaops_snapshot_mode"


def argument_spec():
    spec = ArgumentSpec(dict(
        name=dict(type="str"),
        uuid=dict(type="str"),
        image_name=dict(type="str", required=True),
        state=dict(type="str", default="present", choices=["present", "absent"]),
        disk=dict(type="str"),
        mode=dict(type="str", default="auto", choices=["auto", "live", "cold"]),
        format=dict(type="str", default="qcow2", choices=["qcow2", "raw", "vmdk", "vdi"]),
        compress=dict(type="bool", default=False),
        snapshots_directory=dict(type="path", default="/var/lib/nova/instances/snapshots"),
        bandwidth=dict(type="int", default=0),
        timeout=dict(type="int", default=600),
        upload_timeout=dict(type="int", default=3600),
    ), required_if=[("state", "present", ("name", "uuid"), True)],
        input_rules={"uuid": rules.Uuid(), "bandwidth": rules.AMOUNT, "timeout": rules.SECONDS_AT_LEAST_ONE,
                     "upload_timeout": rules.SECONDS_AT_LEAST_ONE})
    return (spec.merge(libvirt_argument_spec()).merge(glance_argument_spec()).merge(image_argument_spec())
            .merge(lock_argument_spec()))


class DiskSnapshot(Manager):
    """The image of one disk of one domain in Glance."""

    def __init__(self, module, conn):
        super().__init__(module)
        self.conn = conn
        self.glance = GlanceClient.from_params(self.params["glance"])
        self.mode = None
        self.live_refused = None
        self.cleaned_qemu_leftovers = []
        self.work = dict(bytes=0, durations=dict(block_copy=0.0, downtime=0.0, convert=0.0, upload=0.0),
                         block_copy={})

    # -- reading -------------------------------------------------------------------------------
    def check_options(self):
        p = self.params
        if p["compress"] and p["format"] != "qcow2":
            raise NovaopsError("compress needs format=qcow2 (qemu-img compresses qcow2 clusters only); "
                               "the format is %s." % p["format"])
        if not os.path.isabs(p["snapshots_directory"]):
            raise NovaopsError("snapshots_directory %r is not absolute." % p["snapshots_directory"])

    def domain(self):
        p = self.params
        if p["uuid"]:
            dom = self.conn.lookup(uuid=check_uuid(p["uuid"]), required=True)
            if p["name"] and dom.name() != p["name"]:
                raise NovaopsError("The domain with UUID %s is named %s, not %s." % (p["uuid"], dom.name(), p["name"]))
            return dom
        return self.conn.lookup(name=p["name"], required=True)

    def read(self):
        self.check_options()
        facts = {}
        if self.params["state"] == "present":
            dom = self.domain()
            disk, _owner = live_disk(dom, self.params["disk"])
            facts.update(domain=domain_facts(dom), disk=disk)
        found = self.glance.find_images(name=self.params["image_name"], properties={MARKER: MARKER_VALUE})
        facts["images"] = [_image_facts(img) for img in found]
        return facts

    def operation_lock(self, before):
        if self.params["state"] == "absent":
            return None          # images only: no instance is touched
        domain = before["domain"]
        return LibvirtOperationLock(self.conn, "Domain %s" % domain["name"], "libvirt_snapshot", self.params,
                                    instance_dir=nova_instance_dir(before["disk"]["path"], domain["uuid"]),
                                    uuid=domain["uuid"])

    # -- planning ------------------------------------------------------------------------------
    def plan(self, before, plan):
        images = before["images"]
        if self.params["state"] == "absent":
            return plan_deletion(plan, self.glance, images)
        active = plan_marked_image(plan, self.glance, self.params["image_name"], images, MARKER_VALUE)
        if active:
            self.mode = active.get("mode")
            return dict(before, images=[active])
        self.refuse_during_resize(before)
        self.mode = choose_mode(self.params["mode"], before["domain"]["state"])
        plan.add("snapshot_upload", self.snapshot_upload, self.mode, detail=self.mode)
        return dict(before, images=[dict(name=self.params["image_name"], status="active", mode=self.mode,
                                         disk_format=self.params["format"])])

    def refuse_during_resize(self, before):
        """The disk of an instance whose resize waits for confirm or revert may be the original's (moved to
        <uuid>_resize on the source) rather than the instance's: refused, as Nova refused it in RESIZED."""
        domain = before["domain"]
        directory = nova_instance_dir(before["disk"]["path"], domain["uuid"])
        if directory:
            resize_record.refuse_during(InstanceDir(os.path.dirname(directory), domain["uuid"]),
                                        "Domain %s" % domain["name"], "a snapshot")

    # -- the work ------------------------------------------------------------------------------
    def snapshot_upload(self, mode):
        p = self.params
        dom = self.domain()
        disk, owner = live_disk(dom, p["disk"])
        # the disk is read by path (cold) or its backing named (live): not through a link, FIFO or second link
        check_plain_file(disk["path"], "disk %s of domain %s" % (disk["target"], dom.name()))
        qemu_img = QemuImg.from_module(self.module)
        with SnapshotWorkspace(p["snapshots_directory"], "%s-%s-" % (dom.name(), disk["target"]),
                               owner=owner if mode == "live" else None) as workspace:
            image_file = "image.%s" % p["format"]
            mode = self.take_copy(mode, qemu_img, dom, disk, workspace, image_file)
            workspace.secure(image_file)
            with os.fdopen(workspace.open(image_file), "rb") as data:
                self.upload(data, dom, disk, mode)

    def strategies(self, mode):
        """The ways to a consistent copy, in the order they are tried while QEMU refuses a live copy
        (CopyNotStarted): live; live again once what an interrupted copy left in this QEMU is removed;
        for mode=auto, cold, as Nova fell back from live to cold (its managed save and restore also
        give the domain a fresh QEMU, which clears what made the copy fail)."""
        if mode == "cold":
            return [("cold", self.take_cold)]
        ways = [("live", self.take_live), ("live", self.take_live_clearing_leftovers)]
        if self.params["mode"] == "auto":
            ways.append(("cold", self.take_cold_instead))
        return ways

    def take_copy(self, mode, qemu_img, dom, disk, workspace, image_file):
        """The copy by the first strategy QEMU does not refuse; returns the mode it was taken in."""
        refusals = []
        for way, take in self.strategies(mode):
            try:
                take(qemu_img, dom, disk, workspace, image_file, refusals)
                return way
            except CopyNotStarted as refused:
                if refused not in refusals:
                    refusals.append(refused)
            except Exception as exc:  # pylint: disable=broad-except
                raise self.failure(way, dom, disk, exc, refusals)
        raise self.failure(way, dom, disk, refusals[-1], refusals)

    def failure(self, mode, dom, disk, exc, refusals):
        """The one place a failed copy's message is written: what failed, why, and what cures it."""
        what = "The %s snapshot of disk %s of domain %s failed" % (mode, disk["target"], dom.name())
        if is_libvirt_error(exc):
            failure = LibvirtError.from_exception(exc, what)
        elif isinstance(exc, NovaopsError):
            failure = exc
            failure.msg = "%s: %s" % (what, failure.msg)
        else:
            return exc
        if isinstance(exc, CopyNotStarted) and mode == "live":
            failure.msg = failure.msg.rstrip(".") + (
                ". The domain runs on untouched. A new QEMU process accepts the copy again: mode=auto falls back to "
                "a cold snapshot (managed save and restore), or hard-reboot the domain.")
        elif mode == "cold" and refusals:
            failure.msg = "%s. The live copy had been refused (%s): this QEMU still holds what an interrupted block " \
                "copy left, which can also keep it from saving its state. Only a new QEMU process clears it: " \
                "hard-reboot the domain, then snapshot again." % (failure.msg.rstrip("."), refusals[0].msg.rstrip("."))
        return failure

    def take_live(self, qemu_img, dom, disk, workspace, image_file, _refusals):
        p = self.params
        overlay = create_overlay(qemu_img, disk, workspace.reserve("overlay.qcow2"))["path"]
        workspace.secure("overlay.qcow2", give_to_owner=True)
        started = time.monotonic()
        self.work["block_copy"] = live_copy(self.conn, dom, disk, overlay, p["timeout"],
                                            rescue_dir=p["snapshots_directory"], bandwidth_mib=p["bandwidth"])
        self.work["durations"]["block_copy"] = round(time.monotonic() - started, 3)
        self.convert(qemu_img, workspace.root.tool_path(workspace.rel("overlay.qcow2")), "qcow2",
                     workspace.reserve(image_file))
        workspace.remove("overlay.qcow2")          # its room is needed less than the image's

    def take_live_clearing_leftovers(self, qemu_img, dom, disk, workspace, image_file, refusals):
        """What an interrupted earlier copy left in this QEMU (its target's nodes, its mirror job) removed
        through the monitor, then the live copy once more; nothing to remove is the first refusal again."""
        refused = refusals[-1]
        try:
            cleaned = qemu_leftovers.remove(dom, self.params["snapshots_directory"])
        except NovaopsError as failed:
            refused.msg = "%s (removing what an interrupted copy left in QEMU failed too: %s)" % (
                refused.msg.rstrip("."), failed.msg)
            raise refused from failed
        if not cleaned:
            raise refused
        self.cleaned_qemu_leftovers = cleaned
        self.module.warn("QEMU refused the live block copy (%s); removed what an interrupted earlier copy had left "
                         "in it through the QEMU monitor (%s; libvirt marks the domain tainted: custom-monitor) "
                         "and tried again." % (refused.msg, ", ".join(cleaned)))
        self.take_live(qemu_img, dom, disk, workspace, image_file, refusals)

    def take_cold_instead(self, qemu_img, dom, disk, workspace, image_file, refusals):
        self.live_refused = refusals[0].msg
        self.module.warn("%s; took a cold snapshot instead (the domain was managed-saved and restored, which "
                         "restarts its QEMU)." % refusals[0].msg)
        self.mode = "cold"
        self.take_cold(qemu_img, dom, disk, workspace, image_file, refusals)

    def take_cold(self, qemu_img, dom, disk, workspace, image_file, _refusals):
        target = workspace.reserve(image_file)
        with quiesced(dom, self.params["timeout"]) as quiet:
            self.convert(qemu_img, disk["path"], disk["format"], target)
        self.work["durations"]["downtime"] = quiet["downtime"]

    def convert(self, qemu_img, source, source_format, dest):
        started = time.monotonic()
        qemu_img.convert(source, dest, self.params["format"], src_fmt=source_format, compress=self.params["compress"],
                         out_of_order=True)
        self.work["durations"]["convert"] = round(time.monotonic() - started, 3)

    def upload(self, path, dom, disk, mode):
        p = self.params
        props = dict((k, str(v)) for k, v in p["properties"].items())
        props.update({MARKER: MARKER_VALUE, MODE_PROPERTY: mode, "image_type": "snapshot",
                      "instance_uuid": dom.UUIDString(), "novaops_domain": dom.name(), "novaops_disk": disk["target"]})
        image = self.glance.create_image(p["image_name"], disk_format=p["format"], container_format="bare",
                                         visibility=p["visibility"], **props)
        try:
            sent = self.glance.upload(image["id"], path, verify=True, timeout=p["upload_timeout"])
        except BaseException as exc:
            cleanup = None
            try:
                self.glance.delete_image(image["id"])
            except NovaopsError as failed:
                cleanup = failed.msg
            if isinstance(exc, NovaopsError):
                exc.msg = "Uploading the snapshot of %s into image %r failed: %s" % (dom.name(), p["image_name"], exc.msg)
                exc.facts.update(image_deleted=None if cleanup else image["id"], image_cleanup_error=cleanup)
            raise
        self.work["bytes"] = sent["bytes"]
        self.work["durations"]["upload"] = sent["duration"]

    # -- results -------------------------------------------------------------------------------
    def result(self, facts):
        out = dict(images=facts["images"], bytes=self.work["bytes"], durations=self.work["durations"],
                   block_copy=self.work["block_copy"])
        if self.params["state"] == "present":
            image = facts["images"][0] if facts["images"] else {}
            out.update(image_id=image.get("id"), size=image.get("size"), checksum=image.get("checksum"),
                       mode=self.mode, live_refused=self.live_refused,
                       cleaned_qemu_leftovers=self.cleaned_qemu_leftovers, domain=facts.get("domain"),
                       disk=facts.get("disk"))
        return out

    def diff_view(self, facts):
        view = dict(images=[dict(name=img.get("name"), status=img.get("status")) for img in facts.get("images", [])])
        if facts.get("domain"):
            view["domain_state"] = facts["domain"]["state"]
        return view


def _image_facts(img):
    return dict(id=img.get("id"), name=img.get("name"), status=img.get("status"), size=img.get("size"),
                checksum=img.get("checksum"), disk_format=img.get("disk_format"), mode=img.get(MODE_PROPERTY))


def _terminated(signum, _frame):
    # raised in the main thread, so the finally blocks run: XML redefined, state restored, files removed
    raise NovaopsError("libvirt_snapshot was terminated (signal %d); it restored what it had changed." % signum)


def main():
    module = argument_spec().create_ansible_module(NovaopsModule)
    quiet_libvirt_errors()
    signal.signal(signal.SIGTERM, _terminated)
    with module.failing_clearly():
        with LibvirtConnection.from_params(module.params) as conn:
            result = DiskSnapshot(module, conn).converge()
        module.exit_json(**result)


if __name__ == "__main__":
    main()

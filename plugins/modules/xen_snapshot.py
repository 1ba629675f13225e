#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r'''
module: xen_snapshot
short_description: Snapshot a XenServer VM's disks into Glance images
version_added: 0.1.0
description:
  - Snapshots the root disk (or every disk) of a XenServer / XCP-ng VM and uploads each as a Glance v2
    image, the way OpenStack Nova's XenAPI driver did it - record the VDI's VHD parent, C(VDI.snapshot),
    wait for the storage GC to coalesce, walk the chain by C(vhd-parent), and let the dom0 plugin
    C(glance) stream a tarball of C(0.vhd .. n.vhd) to Glance (C(disk_format=vhd), C(container_format=ovf)).
  - The coalesce wait is event-driven (C(event.from)), not a poll; it returns at once when the chain
    has one element or the parent has other children.
  - The snapshot VDI is destroyed at the end, whatever happened. An image whose upload failed is deleted.
    The snapshot VDI carries C(other_config:novaops_snapshot_by=xen_snapshot) while it exists, so that one
    whose destroy failed is destroyed by the next run on the VM.
  - Idempotent by image name plus the marker property C(novaops_snapshot=xen_snapshot) - an active image of
    that name and marker is not uploaded again. V(absent) deletes only images carrying the marker.
  - The C(glance) plugin must be installed on the host (role C(novaops.compute.xapi_plugins)), and Glance
    must be reachable from the host with O(glance.url).
  - The plugin verifies Glance's certificate as the module does - against the CA bundle of O(glance.ca_path)
    (or the cloud's C(cacert)), whose content the module passes to it, so the host needs no copy of it;
    with O(glance.validate_certs=false) it does not verify.
author: novaops.compute maintainers (@novaops)
extends_documentation_fragment:
  - novaops.compute.xenapi
  - novaops.compute.operation_lock
  - novaops.compute.glance
  - novaops.compute.snapshot_image
attributes:
  check_mode:
    description: Reports the images it would upload or delete, changes nothing.
    support: full
  diff_mode:
    description: Shows the images (name, status) before and after.
    support: full
options:
  vm:
    description:
      - Name or UUID of the VM to snapshot. Required with O(state=present).
      - The VM may be running; its disks are snapshotted live.
    type: str
  image_name:
    description:
      - Name of the image. With O(disks=all) the disk at userdevice N other than 0 goes to C(<image_name>-disk<N>).
    type: str
    required: true
  state:
    description:
      - V(present) the image exists and is active (snapshot and upload when it does not).
      - V(absent) images of that name made by this module are deleted.
    type: str
    choices: [ present, absent ]
    default: present
  disks:
    description: V(root) the disk at userdevice 0 only, as Nova; V(all) every disk of the VM.
    type: str
    choices: [ root, all ]
    default: root
  compress:
    description: Gzip the tarball in the plugin (less to send, more dom0 CPU).
    type: bool
    default: false
  coalesce_timeout:
    description: Seconds to wait for the storage GC to coalesce after the snapshot.
    type: int
    default: 600
  upload_timeout:
    description: Seconds the upload of one disk may take.
    type: int
    default: 3600
notes:
  - Usable with C(async)/C(poll); returns byte counts and durations.
seealso:
  - name: Nova's XenAPI snapshot
    description: The operation this module carries over.
    link: https://opendev.org/openstack/nova
'''

EXAMPLES = r'''
- name: Snapshot the root disk of web1 into Glance
  novaops.compute.xen_snapshot:
    vm: web1
    image_name: web1-2026-01-01
    properties:
      os_distro: debian
    glance:
      url: https://glance.example.com:9292
      token: "{{ keystone_token }}"

- name: Every disk, with Glance from clouds.yaml
  novaops.compute.xen_snapshot:
    vm: 0b5e5c46-2c8b-4f5c-9b6e-3f1f6f0e6c71
    disks: all
    image_name: db1-nightly
    glance:
      cloud: prod

- name: Delete that image again
  novaops.compute.xen_snapshot:
    image_name: web1-2026-01-01
    state: absent
    glance:
      cloud: prod
'''

RETURN = r'''
image_id:
  description: ID of the (root disk's) image.
  returned: state=present
  type: str
size:
  description: Size of the image in Glance, in bytes.
  returned: state=present
  type: int
checksum:
  description: MD5 of the image data as Glance computed it (and the plugin, while sending).
  returned: state=present
  type: str
bytes:
  description: Bytes sent to Glance by this run (0 when nothing was uploaded).
  returned: always
  type: int
coalesce_wait:
  description: Seconds spent waiting for the storage GC, per run (the longest of the disks).
  returned: always
  type: float
upload_duration:
  description: Seconds the uploads took.
  returned: always
  type: float
duration:
  description: Seconds the whole module took.
  returned: always
  type: float
images:
  description: One entry per disk.
  returned: always
  type: list
  elements: dict
  contains:
    id: {description: Image ID., type: str}
    name: {description: Image name., type: str}
    status: {description: Image status., type: str}
    size: {description: Size in bytes., type: int}
    checksum: {description: MD5 of the data., type: str}
    userdevice: {description: The disk's userdevice., type: str}
    bytes: {description: Bytes sent by this run., type: int}
    chain_length: {description: VHDs in the uploaded chain., type: int}
    coalesce: {description: "C(waited) seconds and C(reason) of the coalesce wait.", type: dict}
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

import json
import time

from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError, instance_name_hint
from ansible_collections.novaops.compute.plugins.module_utils.glance.marked_image import (
    MARKER, image_argument_spec, plan_deletion, plan_marked_image)
from ansible_collections.novaops.compute.plugins.module_utils.glance.plugin_args import plugin_glance_args
from ansible_collections.novaops.compute.plugins.module_utils.xenapi.module_main import run_on_pool
from ansible_collections.novaops.compute.plugins.module_utils.common.operation_lock import lock_argument_spec
from ansible_collections.novaops.compute.plugins.module_utils.common.plan import Manager
from ansible_collections.novaops.compute.plugins.module_utils.common.uuids import UUID_RE
from ansible_collections.novaops.compute.plugins.module_utils.xenapi.markers import SNAPSHOT_BY
from ansible_collections.novaops.compute.plugins.module_utils.xenapi.operation_lock import XenOperationLock
from ansible_collections.novaops.compute.plugins.module_utils.xenapi.resize_leftovers import STALE_CLEANERS
from ansible_collections.novaops.compute.plugins.module_utils.xenapi.session import (
    NULL_REF, XenAPIError, xenapi_argument_spec)
from ansible_collections.novaops.compute.plugins.module_utils.xenapi.vhd_chain import chain_uuids, sr_location, vdi_chain
from ansible_collections.novaops.compute.plugins.module_utils.xenapi.snapshot import destroy_vdi, wait_for_coalesce
from ansible_collections.novaops.compute.plugins.module_utils.glance.client import GlanceClient, glance_argument_spec
from ansible_collections.novaops.compute.plugins.module_utils.common.argspec import ArgumentSpec
from ansible_collections.novaops.compute.plugins.module_utils.common import input_rules as rules

MARKER_VALUE = "xen_snapshot"
# on the snapshot VDI while a run needs it: what a failed destroy left is found by the next run
SNAPSHOT_KEY = SNAPSHOT_BY


def argument_spec():
    spec = ArgumentSpec(dict(
        vm=dict(type="str"),
        image_name=dict(type="str", required=True),
        state=dict(type="str", default="present", choices=["present", "absent"]),
        disks=dict(type="str", default="root", choices=["root", "all"]),
        compress=dict(type="bool", default=False),
        coalesce_timeout=dict(type="int", default=600),
        upload_timeout=dict(type="int", default=3600),
    ), required_if=[("state", "present", ["vm"])],
        input_rules={"coalesce_timeout": rules.SECONDS, "upload_timeout": rules.SECONDS})
    return (xenapi_argument_spec().merge(glance_argument_spec()).merge(image_argument_spec())
            .merge(lock_argument_spec()).merge(spec))


class Snapshot(Manager):

    def __init__(self, module, conn):
        super().__init__(module)
        self.conn = conn
        self.glance = GlanceClient.from_params(self.params["glance"])
        self.uploads = {}
        self.vm_ref = None
        self.disks = None
        self.leftovers = {}       # uuid -> ref of snapshot VDIs an earlier run failed to destroy

    # -- reading ------------------------------------------------------------------------------
    def image_name(self, userdevice):
        return self.params["image_name"] if userdevice == "0" else "%s-disk%s" % (self.params["image_name"], userdevice)

    def find_vm(self):
        vm = self.params["vm"]
        if UUID_RE.match(vm):
            return self.conn.find("VM", uuid=vm, what="VM")[0]
        ref = self.conn.find("VM", name=vm, what="VM", required=False,
                             where=lambda r: not r["is_a_template"] and not r["is_control_domain"]
                             and not r["is_a_snapshot"])[0]
        if ref is None:
            raise NovaopsError("No VM is named %r; there is nothing to snapshot. %s Nothing was changed."
                               % (vm, instance_name_hint("snapshot", "snapshot_name")))
        return ref

    def vm_disks(self):
        """[(userdevice, vdi_ref)] of the disks to snapshot, root first."""
        disks = []
        for vbd in self.conn.call("VM.get_VBDs", self.vm_ref):
            rec = self.conn.call("VBD.get_record", vbd)
            if rec["type"] != "Disk" or rec["empty"] or rec["VDI"] == NULL_REF:
                continue
            if self.params["disks"] == "root" and rec["userdevice"] != "0":
                continue
            disks.append((rec["userdevice"], rec["VDI"]))
        disks.sort(key=lambda d: int(d[0]) if d[0].isdigit() else 99)
        if not disks or (self.params["disks"] == "root" and disks[0][0] != "0"):
            raise NovaopsError("VM %s has no disk at userdevice 0 to snapshot." % self.params["vm"])
        return disks

    def marked(self, name):
        return self.glance.find_images(name=name, properties={MARKER: MARKER_VALUE})

    def read(self):
        if self.params["state"] == "absent":
            return dict(images=[_image_facts(img) for img in self.marked(self.params["image_name"])]
                        + [_image_facts(img) for img in self.glance.find_images(properties={MARKER: MARKER_VALUE})
                           if img.get("name", "").startswith(self.params["image_name"] + "-disk")])
        if self.disks is None:
            self.vm_ref = self.find_vm()
            self.disks = self.vm_disks()
        images = []
        self.leftovers = {}
        for userdevice, vdi in self.disks:
            for ref in self.conn.call("VDI.get_snapshots", vdi):
                rec = self.conn.call("VDI.get_record", ref)
                if (rec.get("other_config") or {}).get(SNAPSHOT_KEY) == MARKER_VALUE:
                    self.leftovers[rec["uuid"]] = ref
            for img in self.marked(self.image_name(userdevice)):
                facts = _image_facts(img, userdevice)
                facts.update(self.uploads.get(img["id"], {}))
                images.append(facts)
        return dict(images=images)

    def operation_lock(self, before):
        if self.params["state"] == "absent":
            return None          # images only: no instance is touched
        return XenOperationLock(self.conn, "VM", self.vm_ref, "VM %s" % self.params["vm"], "xen_snapshot", self.params,
                                cleaners=STALE_CLEANERS)

    # -- planning -----------------------------------------------------------------------------
    def plan(self, before, plan):
        images = before["images"]
        if self.params["state"] == "absent":
            return plan_deletion(plan, self.glance, images)
        after = []
        for uuid, ref in sorted(self.leftovers.items()):
            plan.add("destroy_leftover_snapshot", self.conn.call, "VDI.destroy", ref, detail=uuid)
        for userdevice, vdi in self.disks:
            name = self.image_name(userdevice)
            active = plan_marked_image(plan, self.glance, name, [img for img in images if img["name"] == name],
                                       MARKER_VALUE)
            if active:
                after.append(active)
                continue
            plan.add("snapshot_upload", self.snapshot_upload, userdevice, vdi, detail=name)
            after.append(dict(name=name, status="active", userdevice=userdevice))
        return dict(images=after)

    # -- the work -----------------------------------------------------------------------------
    def snapshot_upload(self, userdevice, vdi_ref):
        conn = self.conn
        name = self.image_name(userdevice)
        record = conn.call("VDI.get_record", vdi_ref)
        sr_ref = record["SR"]
        try:
            conn.call("SR.scan", sr_ref)            # as Nova: the records agree with the files
        except XenAPIError:
            pass
        record = conn.call("VDI.get_record", vdi_ref)
        original = chain_uuids(vdi_chain(conn, vdi_ref, record))
        sr_path, host = sr_location(conn, sr_ref)
        snapshot = conn.call("VDI.snapshot", vdi_ref, {})
        image = None
        failure = None
        try:
            self.conn.call("VDI.add_to_other_config", snapshot, SNAPSHOT_KEY, MARKER_VALUE)
            coalesce = wait_for_coalesce(conn, vdi_ref, original, sr_ref, self.params["coalesce_timeout"])
            chain = chain_uuids(vdi_chain(conn, snapshot))
            props = dict((k, str(v)) for k, v in self.params["properties"].items())
            props.update({MARKER: MARKER_VALUE, "novaops_vm_uuid": conn.call("VM.get_uuid", self.vm_ref),
                          "novaops_userdevice": userdevice, "novaops_vdi_uuid": record["uuid"]})
            image = self.glance.create_image(name, disk_format="vhd", container_format="ovf",
                                             visibility=self.params["visibility"], **props)
            started = time.monotonic()
            out = json.loads(conn.run_async("host.call_plugin", host, "glance", "upload_vhd",
                                            self.plugin_args(sr_path, chain, image["id"]),
                                            timeout=self.params["upload_timeout"]))
            self.check_uploaded(image["id"], out)
            self.uploads[image["id"]] = dict(bytes=out["bytes"], chain_length=len(chain), coalesce=coalesce,
                                             upload_duration=round(time.monotonic() - started, 3))
        except BaseException as exc:
            failure = exc
            if image is not None:
                try:
                    self.glance.delete_image(image["id"])
                except NovaopsError as cleanup:
                    if isinstance(exc, NovaopsError):
                        exc.facts["image_cleanup_error"] = cleanup.msg
            if isinstance(exc, NovaopsError):
                exc.msg = "Snapshot of %s (userdevice %s) into image %r failed: %s" % (
                    self.params["vm"], userdevice, name, _plugin_sentence(exc))
                exc.facts.setdefault("image_deleted", image["id"] if image is not None else None)
            raise
        finally:
            leftover = destroy_vdi(conn, snapshot)
            if leftover and failure is None:
                raise NovaopsError("The image is uploaded, but the snapshot VDI could not be destroyed: %s"
                                   % leftover)
            if leftover and isinstance(failure, NovaopsError):
                failure.facts["snapshot_cleanup_error"] = leftover

    def plugin_args(self, sr_path, chain, image_id):
        """The glance plugin's upload_vhd arguments: the chain's files, and Glance as this module reaches it."""
        return dict(sr_path=sr_path, vdi_uuids=json.dumps(chain), image_id=image_id,
                    compress=str(self.params["compress"]).lower(), **plugin_glance_args(self.glance))

    def check_uploaded(self, image_id, out):
        """Glance holds what the plugin sent: its checksum (where it keeps one) and size."""
        uploaded = self.glance.wait_for_status(image_id, ("active",), self.glance.timeout)
        if uploaded.get("checksum") and uploaded["checksum"] != out["checksum"]:
            raise NovaopsError("Image %s: Glance's checksum %s is not the md5 %s of what the plugin sent."
                               % (image_id, uploaded["checksum"], out["checksum"]))
        if uploaded.get("size") != out["bytes"]:
            raise NovaopsError("Image %s: Glance holds %s bytes, the plugin sent %s."
                               % (image_id, uploaded.get("size"), out["bytes"]))

    # -- results ------------------------------------------------------------------------------
    def result(self, facts):
        images = facts["images"] if facts else []
        out = dict(images=images,
                   bytes=sum(img.get("bytes", 0) for img in images),
                   coalesce_wait=max([(img.get("coalesce") or {}).get("waited", 0.0) for img in images] or [0.0]),
                   upload_duration=round(sum(img.get("upload_duration", 0.0) for img in images), 3))
        if self.params["state"] == "present" and images:
            root = images[0]
            out.update(image_id=root.get("id"), size=root.get("size"), checksum=root.get("checksum"))
        return out

    def diff_view(self, facts):
        return dict(images=[dict(name=img.get("name"), status=img.get("status")) for img in (facts or {}).get("images", [])])


def _image_facts(img, userdevice=None):
    return dict(id=img.get("id"), name=img.get("name"), status=img.get("status"), size=img.get("size"),
                checksum=img.get("checksum"), userdevice=userdevice or img.get("novaops_userdevice"))


def _plugin_sentence(exc):
    """A plugin Failure arrives as XENAPI code + params; say it plainly."""
    code = getattr(exc, "code", None)
    params = getattr(exc, "params", None) or []
    if code and code.startswith("NOVAOPS_GLANCE"):
        return "the glance plugin could not upload to %s: %s" % (
            params[0] if params else "Glance", "; ".join(p for p in params[1:] if p))
    return exc.msg


def main():
    run_on_pool(argument_spec(), Snapshot)


if __name__ == "__main__":
    main()

#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r'''
module: xen_image
short_description: Cache a Glance image in a XenServer SR, the way Nova's XenAPI driver did
version_added: 0.2.0
description:
  - Makes a Glance v2 image available in a storage repository as one cached image VDI, from which each
    instance's root disk is a copy-on-write C(VDI.clone) (Nova's C(use_cow_images)).
  - The dom0 plugin C(glance.download_vhd) streams the image's VHD tarball (C(0.vhd .. n.vhd), what
    M(novaops.compute.xen_snapshot) uploads) into a staging directory in the SR, hashing it as it arrives,
    and refuses it unless it is the size and the digest Glance recorded - its C(os_hash_value) (with its
    C(os_hash_algo), Glance's default sha512) when the image has one and dom0's Python the algorithm, else its
    md5 C(checksum), the rule of python-glanceclient's image download; the chain gets
    fresh UUIDs, its parents are re-linked with C(vhd-util modify -p), it is checked with C(vhd-util check),
    moved into the SR and scanned in (C(SR.scan)). Nothing of a refused or failed download is left in the
    SR, and the staging directory is removed after every run.
  - The imported leaf is the cached image, marked in its C(other_config) with C(novaops_image_id),
    C(novaops_image_checksum) and C(novaops_image_cached_at); the next run finds it there and downloads
    nothing. A cached VDI whose checksum is not the image's in Glance is an error (nothing is changed).
  - V(absent) destroys the cached image VDI when no VDI reads its data any more; while clones (instance
    disks, their snapshots, a suspended VM's disks) still do, it fails naming their VMs. The hidden parents
    of the destroyed VDI are left to the storage garbage collector, as xapi does.
  - Only VHD images are imported (C(disk_format=vhd), C(container_format=ovf) or C(bare), a tar of
    C(<n>.vhd) files). A C(raw), C(qcow2) or any other image is refused before anything changes, naming
    its formats - upload a VHD tarball instead (for instance with M(novaops.compute.xen_snapshot)).
  - The C(glance) plugin must be installed on the host (role C(novaops.compute.xapi_plugins)), and Glance
    reachable from it with O(glance.url).
author: novaops.compute maintainers (@novaops)
extends_documentation_fragment:
  - novaops.compute.xenapi
  - novaops.compute.glance
attributes:
  check_mode:
    description: Reports the download or destroy it would do, changes nothing.
    support: full
  diff_mode:
    description: Shows the cached image VDI (uuid, image id, checksum) before and after.
    support: full
options:
  image:
    description:
      - ID or name of the Glance image. A name must match exactly one image.
      - With O(state=absent) an ID is looked for in the SR's cache without asking Glance (the image may be
        deleted there already).
    type: str
    required: true
  sr:
    description: Name or UUID of the SR that holds the cache. Default the pool's default SR.
    type: str
  state:
    description:
      - V(present) the image is cached in the SR (downloaded when it is not).
      - V(absent) its cached VDI is destroyed (refused while clones use it).
    type: str
    choices: [ present, absent ]
    default: present
  max_bytes:
    description:
      - The most bytes the image's VHD files may hold once unpacked (at least 1). Needed for a compressed tarball,
        whose unpacked size Glance does not record; for an uncompressed one the least of this and Glance's size
        counts.
    type: int
  download_timeout:
    description: Seconds the download and import may take.
    type: int
    default: 3600
notes:
  - Usable with C(async)/C(poll); returns byte counts and durations.
  - Two runs that cache the same image in the same SR at the same time both download it; run one per SR
    (for instance with C(throttle) or C(serial)).
seealso:
  - module: novaops.compute.xen_snapshot
  - module: novaops.compute.xen_vm
'''

EXAMPLES = r'''
- name: Cache the Debian image in the pool's default SR
  novaops.compute.xen_image:
    image: 5d3c7f0e-8a7b-4c57-9a52-2f1f63a1c0de
    glance:
      cloud: prod

- name: Cache it in another SR, by image name
  novaops.compute.xen_image:
    image: debian-12-genericcloud
    sr: Local storage
    glance:
      url: https://glance.example.com:9292
      token: "{{ keystone_token }}"

- name: Remove the cached copy when no instance uses it any more
  novaops.compute.xen_image:
    image: 5d3c7f0e-8a7b-4c57-9a52-2f1f63a1c0de
    state: absent
    glance:
      cloud: prod
'''

RETURN = r'''
image_id:
  description: The Glance image's ID.
  returned: always
  type: str
sr_uuid:
  description: UUID of the SR.
  returned: always
  type: str
vdi_uuid:
  description: UUID of the cached image VDI (clone it for an instance's root disk). None when absent, or in
    check mode before a download.
  returned: always
  type: str
checksum:
  description: Glance's md5 checksum of the image data, as marked on the cached VDI (the download itself is
    verified against the image's C(os_hash_value) when it has one, see the description).
  returned: state=present
  type: str
virtual_size:
  description: The disk's size in bytes.
  returned: state=present
  type: int
cached_at:
  description: When the cached VDI was imported (UTC, ISO 8601).
  returned: state=present
  type: str
chain:
  description: UUIDs of the VHD chain this run imported, leaf (the cached VDI) first; empty when nothing was.
  returned: always
  type: list
  elements: str
bytes:
  description: Bytes downloaded from Glance by this run (0 when the image was cached already).
  returned: always
  type: int
download_duration:
  description: Seconds the download and import took (0 when nothing was downloaded).
  returned: always
  type: float
reserved_uuids:
  description: After a failed download, the UUIDs the imported chain would have had (leaf first); no VDI or
    file of them is left in the SR.
  returned: failure
  type: list
  elements: str
users:
  description: With O(state=absent) refused, who still uses the cached image (C(VM <name> (<uuid>, <power state>))).
  returned: failure
  type: list
  elements: str
actions:
  description: Names of the actions taken (or that would be, in check mode).
  returned: always
  type: list
  elements: str
'''

import datetime
import json
import time
import uuid

from ansible_collections.novaops.compute.plugins.module_utils.common.argspec import ArgumentSpec
from ansible_collections.novaops.compute.plugins.module_utils.common import input_rules as rules
from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError
from ansible_collections.novaops.compute.plugins.module_utils.xenapi.module_main import run_on_pool
from ansible_collections.novaops.compute.plugins.module_utils.common.plan import Manager
from ansible_collections.novaops.compute.plugins.module_utils.common.uuids import UUID_RE
from ansible_collections.novaops.compute.plugins.module_utils.glance.client import GlanceClient, glance_argument_spec
from ansible_collections.novaops.compute.plugins.module_utils.glance.plugin_args import plugin_glance_args
from ansible_collections.novaops.compute.plugins.module_utils.xenapi.image_cache import (
    cache_facts, cached_images, dependents, find_sr, users)
from ansible_collections.novaops.compute.plugins.module_utils.xenapi.markers import (
    IMAGE_CACHED_AT, IMAGE_CHECKSUM, IMAGE_ID)
from ansible_collections.novaops.compute.plugins.module_utils.xenapi.session import (
    XenAPIError, xenapi_argument_spec)
from ansible_collections.novaops.compute.plugins.module_utils.xenapi.snapshot import destroy_vdi
from ansible_collections.novaops.compute.plugins.module_utils.xenapi.vhd_chain import MAX_DEPTH, sr_location

VHD_CONTAINERS = ("ovf", "bare")


def argument_spec():
    spec = ArgumentSpec(dict(
        image=dict(type="str", required=True),
        sr=dict(type="str"),
        state=dict(type="str", default="present", choices=["present", "absent"]),
        max_bytes=dict(type="int"),
        download_timeout=dict(type="int", default=3600),
    ), input_rules={"max_bytes": rules.POSITIVE_AMOUNT, "download_timeout": rules.SECONDS})
    return xenapi_argument_spec().merge(glance_argument_spec()).merge(spec)


def check_importable(image):
    """Refuse, before anything changes, an image the plugin cannot import (or verify)."""
    name = "Glance image %s (%s)" % (image.get("id"), image.get("name") or "no name")
    if image.get("status") != "active":
        raise NovaopsError("%s is %s, not active: it has no data to cache yet." % (name, image.get("status")))
    if image.get("disk_format") != "vhd" or image.get("container_format") not in VHD_CONTAINERS:
        raise NovaopsError(
            "%s has disk_format %s and container_format %s: xen_image imports VHD tarballs only (disk_format vhd, "
            "container_format ovf or bare, as xen_snapshot uploads); a raw or qcow2 image is not converted."
            % (name, image.get("disk_format"), image.get("container_format")))
    if not image.get("checksum"):
        raise NovaopsError("%s has no checksum in Glance: its data cannot be verified, so it is not cached." % name)


class ImageCache(Manager):

    def __init__(self, module, conn):
        super().__init__(module)
        self.conn = conn
        self.glance = None
        self.image = None
        self.image_id = None
        self.sr_ref = None
        self.sr_uuid = None
        self.download = dict(chain=[], bytes=0, download_duration=0.0)

    # -- reading ------------------------------------------------------------------------------
    def find_image(self):
        given = self.params["image"]
        if self.glance is None:
            self.glance = GlanceClient.from_params(self.params["glance"])
        if UUID_RE.match(given):
            return self.glance.get_image(given)
        return self.glance.find_image(given)

    def read(self):
        if self.sr_ref is None:
            self.sr_ref, sr_rec = find_sr(self.conn, self.params["sr"])
            self.sr_uuid = sr_rec["uuid"]
            if self.params["state"] == "present" or not UUID_RE.match(self.params["image"]):
                self.image = self.find_image()
                if self.image is None:
                    raise NovaopsError("No image is named %r in Glance." % self.params["image"])
                self.image_id = self.image["id"]
            else:
                self.image_id = self.params["image"]
        self.vdis = self.conn.call("VDI.get_all_records")
        cached = cached_images(self.vdis, self.sr_ref, self.image_id)
        if not cached:
            return None
        facts = cache_facts(*cached[0])
        facts["others"] = [cache_facts(*item)["vdi_uuid"] for item in cached[1:]]
        return facts

    # -- planning -----------------------------------------------------------------------------
    def plan(self, before, plan):
        if self.params["state"] == "absent":
            if before is None:
                return None
            for ref, rec in cached_images(self.vdis, self.sr_ref, self.image_id):
                using = dependents(self.vdis, ref)
                if using:
                    who = users(self.conn, using)
                    raise NovaopsError("The cached image %s (VDI %s) in SR %s is still used by %s: destroy those "
                                       "first, or keep the cache." % (self.image_id, rec["uuid"], self.sr_uuid,
                                                                      ", ".join(who)), users=who)
                plan.add("destroy_cached_image", self.destroy_cache, ref, detail=rec["uuid"])
            return None
        check_importable(self.image)
        if before is not None:
            if before["checksum"] != self.image["checksum"]:
                raise NovaopsError(
                    "The cached image VDI %s in SR %s is marked with checksum %s, but Glance's image %s has %s: "
                    "destroy the stale cache (state=absent) and run again." % (
                        before["vdi_uuid"], self.sr_uuid, before["checksum"], self.image_id, self.image["checksum"]))
            return before
        plan.add("download_image", self.download_image, detail=self.image_id)
        return dict(vdi_uuid=None, image_id=self.image_id, checksum=self.image["checksum"], cached_at=None,
                    virtual_size=None, others=[])

    # -- the work -----------------------------------------------------------------------------
    def download_image(self):
        sr_path, host = sr_location(self.conn, self.sr_ref)
        # the UUIDs of the imported chain are chosen here (the plugin pops them from the end, leaf first),
        # so that whatever a failed run left is known by them
        stack = [str(uuid.uuid4()) for _i in range(MAX_DEPTH)]
        args = dict(sr_path=sr_path, image_id=self.image_id, uuid_stack=json.dumps(stack),
                    **plugin_glance_args(self.glance, self.params["download_timeout"]))
        if self.params["max_bytes"] is not None:
            args["max_bytes"] = str(self.params["max_bytes"])
        started = time.monotonic()
        try:
            out = json.loads(self.conn.run_async("host.call_plugin", host, "glance", "download_vhd", args,
                                                 timeout=self.params["download_timeout"]))
            verified = out.get("verified", "checksum")      # a plugin before one-digest verification: md5
            if verified not in ("os_hash_value", "checksum") or out.get(verified) != self.image.get(verified):
                # a plugin older than the verifying one let it in: out it goes again
                raise NovaopsError("Glance's image %s arrived with %s, not the %s Glance recorded: refused." % (
                    self.image_id, "%s %s" % (verified, out.get(verified)) if verified else "no digest verified",
                    verified or "checksum or os_hash_value"))
            leaf = self.conn.call("VDI.get_by_uuid", out["root"]["uuid"])
            now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
            self.conn.call("VDI.set_name_label", leaf, "Glance image %s" % self.image_id)
            self.conn.call("VDI.set_name_description", leaf, "%s (cached by novaops.compute.xen_image)"
                           % (self.image.get("name") or self.image_id))
            for key, value in ((IMAGE_ID, self.image_id), (IMAGE_CHECKSUM, self.image["checksum"]),
                               (IMAGE_CACHED_AT, now)):
                self.conn.call("VDI.add_to_other_config", leaf, key, value)
        except BaseException as exc:
            left = self.remove_imported(list(reversed(stack)))
            if isinstance(exc, NovaopsError):
                exc.facts["reserved_uuids"] = list(reversed(stack))
                exc.msg = "Caching Glance image %s in SR %s failed: %s" % (
                    self.image_id, self.sr_uuid, _plugin_sentence(exc))
                if left:
                    exc.facts["cleanup_errors"] = left
            raise
        self.download = dict(chain=out["chain"], bytes=out["bytes"],
                             download_duration=round(time.monotonic() - started, 3))

    def remove_imported(self, uuids):
        """Destroy whatever visible VDI of the chosen UUIDs a failed run left (leaf first); the errors, if any."""
        left = []
        for vdi_uuid in uuids:
            try:
                ref = self.conn.call("VDI.get_by_uuid", vdi_uuid)
                if not self.conn.call("VDI.get_managed", ref):
                    continue            # a hidden parent: the storage GC removes it once its leaf is gone
            except XenAPIError:
                continue
            error = destroy_vdi(self.conn, ref)
            if error:
                left.append("VDI %s: %s" % (vdi_uuid, error))
        return left

    def destroy_cache(self, ref):
        self.conn.call("VDI.destroy", ref)

    # -- results ------------------------------------------------------------------------------
    def result(self, facts):
        out = dict(image_id=self.image_id, sr_uuid=self.sr_uuid, vdi_uuid=(facts or {}).get("vdi_uuid"),
                   **self.download)
        if self.params["state"] == "present" and facts:
            out.update(checksum=facts.get("checksum"), virtual_size=facts.get("virtual_size"),
                       cached_at=facts.get("cached_at"))
        return out

    def diff_view(self, facts):
        if not facts:
            return {}
        return dict(vdi_uuid=facts.get("vdi_uuid"), image_id=facts.get("image_id"), checksum=facts.get("checksum"))


def _plugin_sentence(exc):
    """A plugin Failure arrives as XENAPI code + params; say it plainly."""
    code = getattr(exc, "code", None) or ""
    params = [p for p in (getattr(exc, "params", None) or []) if p]
    if code == "NOVAOPS_IMAGE_CORRUPT":
        return ("the data Glance sent is not the image it recorded (%s %s, got %s): refused, nothing was "
                "imported" % tuple((params + ["?"] * 4)[1:4]))
    if code == "NOVAOPS_SR_FULL":
        return ("the SR ran out of space after %s bytes of the image had arrived: nothing was imported and "
                "nothing of it is left in the SR; free space there, or name another SR (option sr; the boot "
                "role's instance_sr), and run again"
                % (params[1:2] or ["?"])[0])
    if code.startswith("NOVAOPS_"):
        return "the glance plugin failed (%s): %s" % (code, "; ".join(params))
    return exc.msg


def main():
    run_on_pool(argument_spec(), ImageCache)


if __name__ == "__main__":
    main()

# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A ``_base`` file a block migration's destination lacks, made there as the boot path makes it.

When the base is the cache of a Glance image (named sha1 of the image ID, the ID recorded in the
instance's desired state) and a Glance endpoint is configured, the image's data is fetched from
Glance - checked against Glance's hash, then as the destination's libvirt reads it: the base's
format, no backing file, the base's virtual size - straight into the destination's volume over
its libvirt stream. Otherwise, or when Glance cannot give the same file (the boot converted it to
raw, Glance does not answer, the data does not check out), the source's own copy is streamed.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET

from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError
from ansible_collections.novaops.compute.plugins.module_utils.disks.image_format import glance_format
from ansible_collections.novaops.compute.plugins.module_utils.libvirt.domain_xml import parse_domain_xml
from ansible_collections.novaops.compute.plugins.module_utils.libvirt.image_cache import base_name

IMAGE_KEYS = ("image", "rescue_image")      # the desired state's images a base can be the cache of


def glance_image_id(dom_xml, base_path):
    """The ID of the Glance image whose cache ``base_path`` is, from the instance's desired state; else None."""
    desired = parse_domain_xml(dom_xml)["metadata"] or {}
    name = os.path.basename(base_path)
    for key in IMAGE_KEYS:
        image = desired.get(key) or {}
        if image.get("id") and base_name(image["id"]) == name:
            return image["id"]
    return None


def make_base(bases, name, backing, image_id, glance_factory):
    """The base ``name`` in ``bases`` (a remote_files.Directory on the destination): from Glance image
    ``image_id`` when one is given and it gives the same file, else the source's ``backing['path']``.
    Returns facts: source (glance or copy), bytes, and why not Glance (reason) or how it was checked."""
    reason = "not the cache of a Glance image" if not image_id else "no Glance endpoint configured"
    if image_id and glance_factory is not None:
        try:
            return _from_glance(bases, name, backing, image_id, glance_factory())
        except NovaopsError as exc:
            reason = "Glance image %s: %s" % (image_id, exc.msg)
            vol = bases.volume(name)
            if vol is not None:
                vol.delete(0)
    sent = bases.upload(name, backing["path"], backing["format"])
    return dict(source="copy", bytes=sent, reason=reason)


def _from_glance(bases, name, backing, image_id, glance):
    image = glance.get_image(image_id)
    fmt = glance_format(image.get("disk_format"))
    if fmt != backing["format"]:
        raise NovaopsError("its disk_format is %s, the base is %s (converted when it was booted)" % (
            image.get("disk_format"), backing["format"]))
    size = image.get("size")
    local = os.path.getsize(backing["path"])
    if size != local:
        raise NovaopsError("it has %s bytes, the base %d" % (size, local))
    checked = {}

    def produce(sink):
        checked.update(glance.download(image_id, sink, image=image, verify=True))
    sent = bases.fill(name, size, fmt, produce)
    _as_read_there(bases, name, fmt, backing["capacity"])
    return dict(source="glance", image=image_id, bytes=sent, verified_by=checked.get("verified_by"))


def _as_read_there(bases, name, fmt, capacity):
    """The destination's libvirt reads the new base as the source's: same format and size, no backing file."""
    bases.pool.refresh(0)
    vol = ET.fromstring(bases.volume(name).XMLDesc(0))
    seen_fmt = vol.find("target/format").get("type") if vol.find("target/format") is not None else None
    seen_capacity = int(vol.findtext("capacity") or -1)
    if vol.find("backingStore/path") is not None:
        raise NovaopsError("its data names a backing file (%s)" % vol.findtext("backingStore/path"))
    if seen_fmt != fmt or seen_capacity != capacity:
        raise NovaopsError("the destination reads it as %s of %d bytes, the base is %s of %d bytes" % (
            seen_fmt, seen_capacity, fmt, capacity))

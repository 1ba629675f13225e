# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Which Glance image a _base file is the cache of, and the choice between Glance and the source's copy.

(The fetch itself - Glance's data streamed into the destination's volume and read back there - runs
against the beds in the libvirt_migrate target.)
"""

from __future__ import annotations

import hashlib
import json

from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError
from ansible_collections.novaops.compute.plugins.module_utils.libvirt import remote_base

IMAGE = "0b2c7a0e-53a4-4c1f-9d3e-0a5b8f1c2d3e"
RESCUE = "7f9d0c1e-2b3a-4c5d-8e6f-1a2b3c4d5e6f"


def sha1(text):
    return hashlib.sha1(text.encode()).hexdigest()


def domain_xml(desired):
    meta = "" if desired is None else (
        "<metadata><n:instance xmlns:n='https://novaops.example/compute/1'><n:desired format='json'>%s"
        "</n:desired></n:instance></metadata>" % json.dumps(desired))
    return "<domain type='qemu'><name>i</name><uuid>%s</uuid>%s</domain>" % (IMAGE, meta)


def test_a_base_named_sha1_of_the_recorded_image_id_is_that_images_cache():
    xml = domain_xml(dict(image=dict(id=IMAGE), rescue_image=dict(id=RESCUE)))
    assert remote_base.glance_image_id(xml, "/i/_base/" + sha1(IMAGE)) == IMAGE
    assert remote_base.glance_image_id(xml, "/i/_base/" + sha1(RESCUE)) == RESCUE


def test_any_other_base_is_not_a_glance_images_cache():
    assert remote_base.glance_image_id(domain_xml(dict(image=dict(id=IMAGE))), "/i/_base/" + sha1("other")) is None
    assert remote_base.glance_image_id(domain_xml(dict(image=dict(path="/x.qcow2"))), "/i/_base/" + sha1(IMAGE)) \
        is None
    assert remote_base.glance_image_id(domain_xml(None), "/i/_base/" + sha1(IMAGE)) is None


class FakeBases:
    """A remote_files.Directory that records what was made in it."""

    def __init__(self):
        self.made = {}

    def upload(self, name, path, fmt):
        self.made[name] = ("copy of %s" % path, fmt)
        return 42

    def volume(self, name):
        return FakeVolume(self.made, name) if name in self.made else None


class FakeVolume:
    def __init__(self, made, name):
        self.made, self.name = made, name

    def delete(self, _flags):
        del self.made[self.name]


class UnanswerableGlance:
    def get_image(self, image_id):
        raise NovaopsError("Glance at http://glance:9292 does not answer")


BACKING = dict(path="/i/_base/b", format="raw", capacity=8 << 20)


def test_without_an_image_or_an_endpoint_the_source_copy_is_streamed_and_the_reason_said():
    bases = FakeBases()
    made = remote_base.make_base(bases, "b", BACKING, None, UnanswerableGlance)
    assert made == dict(source="copy", bytes=42, reason="not the cache of a Glance image")
    made = remote_base.make_base(FakeBases(), "b", BACKING, IMAGE, None)
    assert made["source"] == "copy" and made["reason"] == "no Glance endpoint configured"


def test_a_glance_that_cannot_give_the_file_falls_back_to_the_source_copy():
    bases = FakeBases()
    made = remote_base.make_base(bases, "b", BACKING, IMAGE, UnanswerableGlance)
    assert made["source"] == "copy" and "does not answer" in made["reason"] and IMAGE in made["reason"]
    assert bases.made == {"b": ("copy of /i/_base/b", "raw")}


class ConvertedImageGlance:
    def get_image(self, image_id):
        return dict(id=image_id, disk_format="qcow2", size=1 << 20, status="active")


def test_an_image_the_boot_converted_to_raw_is_not_fetched():
    made = remote_base.make_base(FakeBases(), "b", BACKING, IMAGE, ConvertedImageGlance)
    assert made["source"] == "copy" and "disk_format is qcow2, the base is raw" in made["reason"]

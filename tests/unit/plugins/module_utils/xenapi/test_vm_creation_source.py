# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The template and template_disks a new VM is made with (what the boot role once decided in Jinja)."""

from __future__ import annotations

from ansible_collections.novaops.compute.plugins.module_utils.xenapi.vm_manager import creation_source


def params(**kw):
    return dict(dict(template=None, template_disks=None, image_vdi=None), **kw)


def test_booting_an_image_uses_the_install_media_template_without_its_disks():
    assert creation_source(params(image_vdi="vdi-1")) == dict(template="Other install media", template_disks=False)


def test_an_image_not_cached_yet_in_check_mode_is_booting_an_image_too():
    assert creation_source(params(image_vdi="")) == dict(template="Other install media", template_disks=False)


def test_a_given_template_is_kept_with_an_image():
    assert creation_source(params(template="Ubuntu", image_vdi="vdi-1")) == dict(template="Ubuntu", template_disks=False)


def test_without_an_image_the_template_provisions_its_disks():
    assert creation_source(params(template="Ubuntu")) == dict(template="Ubuntu", template_disks=True)
    assert creation_source(params()) == dict(template=None, template_disks=True)


def test_a_given_template_disks_wins():
    assert creation_source(params(template="T", image_vdi="vdi-1", template_disks=True))["template_disks"] is True
    assert creation_source(params(template="T", template_disks=False))["template_disks"] is False

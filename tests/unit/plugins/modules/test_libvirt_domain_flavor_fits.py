# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Nova's "Flavor's disk is too small for requested image": both sizes named, equal sizes fit, unknown sizes pass."""

from __future__ import annotations

import pytest

from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError
from ansible_collections.novaops.compute.plugins.module_utils.libvirt.image_cache import ImageRef
from ansible_collections.novaops.compute.plugins.modules import libvirt_domain

GiB = 1024 ** 3


def test_an_image_larger_than_the_root_disk_is_refused_naming_both_sizes():
    ref = ImageRef(path="/srv/images/big.qcow2")
    with pytest.raises(NovaopsError) as caught:
        libvirt_domain.check_flavor_fits({"root_gb": 1}, GiB, 2 * GiB + 1, ref, "its virtual size")
    assert caught.value.msg.startswith("Flavor's disk is too small for requested image: the flavor's root_gb 1 is "
                                       "1073741824 bytes, the image /srv/images/big.qcow2 is 2147483649 bytes")
    assert "root_gb of at least 3" in caught.value.msg
    assert caught.value.facts == dict(flavor_bytes=GiB, image_bytes=2 * GiB + 1)


@pytest.mark.parametrize("image_bytes", [GiB, GiB - 1, None, 0])
def test_an_image_that_fits_or_of_unknown_size_passes(image_bytes):
    libvirt_domain.check_flavor_fits({"root_gb": 1}, GiB, image_bytes, ImageRef(id="x"), "its size in Glance")


class _Planner:
    """What Domain.check_root_fits reads: no base cached yet, no disk yet, Glance's record of the image."""

    def __init__(self, image):
        self.image = image
        self.cache = type("Cache", (), {"present": lambda self, ref: False})()

    def file_facts(self, path, fmt):
        return None

    def glance_image(self, image_id):
        return self.image


ROOT_DISK = [("disk", "/i/disk", "qcow2", GiB, None, "root")]


def test_a_bare_image_is_checked_by_its_size_in_glance_before_the_download():
    planner = _Planner(dict(container_format="bare", disk_format="qcow2", size=2 * GiB))
    with pytest.raises(NovaopsError, match="its size in Glance"):
        libvirt_domain.Domain.check_root_fits(planner, {}, ROOT_DISK, ImageRef(id="x"), {"root_gb": 1})


@pytest.mark.parametrize("tar_bytes", [GiB + 2048, 10 * 1024 ** 2])
def test_a_vhd_tarball_is_checked_once_flattened_not_by_its_tarball_size(tar_bytes):
    # a fixed 1 GiB VHD's tarball is larger than 1 GiB, a sparse one's far smaller than its disk: neither says
    planner = _Planner(dict(container_format="ovf", disk_format="vhd", size=tar_bytes))
    assert libvirt_domain.Domain.check_root_fits(planner, {}, ROOT_DISK, ImageRef(id="x", raw=True),
                                                 {"root_gb": 1}) == GiB

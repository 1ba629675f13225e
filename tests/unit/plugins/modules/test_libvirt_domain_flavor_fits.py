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

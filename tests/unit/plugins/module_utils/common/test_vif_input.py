# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A VIF's bridge, MAC, model and id are checked before anything is defined (#13 corpus)."""

from __future__ import annotations

import pytest

from ansible_collections.novaops.compute.plugins.module_utils.libvirt import vif_wiring as vw
from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError
from ansible_collections.novaops.compute.plugins.module_utils.common.mac_address import unicast_mac
from ansible_collections.novaops.compute.plugins.module_utils.xenapi.vm_plan import check_mac

VIF = dict(id="1dd0c0de-5a1f-4b7e-9c3a-2f6e8d4b1a90", type="ovs", bridge="br-int", mac="fa:16:3e:00:00:01",
           model="virtio")


def test_a_plain_vif_passes():
    vw.check_vif(VIF)
    vw.check_vif(dict(VIF, type="bridge", id="not-a-uuid-for-a-bridge-vif", model="e1000"))


@pytest.mark.parametrize("change, msg", [
    (dict(bridge="-rf"), "not a valid bridge name"),
    (dict(bridge="b" * 16), "not a valid bridge name"),
    (dict(bridge="br int"), "not a valid bridge name"),
    (dict(mac="zz:zz:zz:zz:zz:zz"), "not a MAC address"),
    (dict(mac="ff:ff:ff:ff:ff:ff"), "not a unicast address"),
    (dict(model="virtio; reboot"), "not a device model name"),
    (dict(model=""), "not a device model name"),
    (dict(model="--help"), "not a device model name"),
    (dict(id="../../etc/passwd"), "not a UUID"),
])
def test_bad_vifs_are_refused(change, msg):
    with pytest.raises(NovaopsError, match=msg):
        vw.check_vif(dict(VIF, **change))


def test_unicast_mac():
    assert unicast_mac("02:AB:00:00:00:01") == "02:ab:00:00:00:01"
    for bad in ("01:00:5e:00:00:01", "00:00:00:00:00:00", "02:00:00", "02-00-00-00-00-01"):
        with pytest.raises(NovaopsError):
            unicast_mac(bad)
    with pytest.raises(NovaopsError, match=r"vifs\[2\]"):
        check_mac("ff:ff:ff:ff:ff:ff", 2)
    check_mac(None, 0)


@pytest.mark.parametrize("mtu", [0, -1, 67, 65536])
def test_an_mtu_no_link_has_is_refused(mtu):
    with pytest.raises(NovaopsError, match="mtu must be 68 to 65535"):
        vw.check_vif(dict(VIF, mtu=mtu))


def test_vnc_listen_and_port():
    from ansible_collections.novaops.compute.plugins.module_utils.libvirt.domain_xml import check_vnc
    for good in (None, dict(listen="127.0.0.1", port=-1), dict(listen="::1", port=5900), dict(listen="hv1.example.com"),
                 dict(listen=None, port=65535)):
        check_vnc(good)
    for bad, msg in ((dict(listen="bi; touch /tmp/x"), "neither an IP address"), (dict(listen="-rf"), "neither"),
                     (dict(listen="a" * 300), "neither"), (dict(port=0), "vnc.port"), (dict(port=5899), "vnc.port"),
                     (dict(port=65536), "vnc.port")):
        with pytest.raises(NovaopsError, match=msg):
            check_vnc(bad)

# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The checks of vif_wiring that need no Open vSwitch (the wiring itself is tested on the OVS bed
by the libvirt_domain target)."""

from __future__ import annotations

import pytest

from ansible_collections.novaops.compute.plugins.module_utils.libvirt import vif_wiring as vw
from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError

VIF = dict(id="1dd0c0de-5a1f-4b7e-9c3a-2f6e8d4b1a90", type="ovs", bridge="br-int", mac="fa:16:3e:00:00:01",
           dev="tap1dd0c0de-5a", ips=["10.0.0.5"], anti_spoofing=True,
           qos=dict(port="eth1", queue_id=4242, max_rate=614400000))


def test_tap_name_is_novas():
    assert vw.tap_name(VIF["id"]) == "tap1dd0c0de-5a"
    assert len(vw.tap_name(VIF["id"])) <= 15


def test_queue_table_follows_the_filter():
    assert vw.queue_table(VIF) == 1
    assert vw.queue_table(dict(VIF, anti_spoofing=False)) == 0
    assert vw.queue_table(dict(VIF, qos=dict(VIF["qos"], flow_table=7))) == 7


def test_a_good_vif_passes():
    vw.check_vif(VIF)
    vw.check_vif(dict(VIF, qos=None, ips=None))


@pytest.mark.parametrize("change, msg", [
    (dict(dev=None), "need an OVS VIF with an id"),
    (dict(type="bridge"), "need an OVS VIF with an id"),
    (dict(ips=["10.0.0.300"]), "not a valid IPv4 or IPv6 address"),
    (dict(ips=[]), "qos needs the VIF's ips"),
    (dict(mac="01:00:5e:00:00:01"), "not a unicast"),
    (dict(qos=dict(VIF["qos"], queue_id=61440)), "out of range"),
    (dict(qos=dict(VIF["qos"], max_rate=0)), "max_rate must be a positive"),
    (dict(qos=dict(VIF["qos"], flow_table=0)), "must be 1 to 254 with anti_spoofing"),
])
def test_bad_vifs_are_refused(change, msg):
    with pytest.raises(NovaopsError, match=msg):
        vw.check_vif(dict(VIF, **change))

# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import pytest

from ansible_collections.novaops.compute.plugins.module_utils.libvirt import domain_xml as dx
from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError

SPEC = dict(
    name="web1", uuid="0f4b8ae3-8bd7-5d56-9b0a-3b5b0a1d2c3e", virt_type="qemu", vcpus=2, memory_mb=128,
    disks=[dict(path="/i/u/disk", format="qcow2", target="vda", bus="virtio"),
           dict(path="/i/u/disk.swap", format="qcow2", target="vdb", bus="virtio")],
    vifs=[dict(type="ovs", bridge="br-int", mac="fa:16:3e:00:00:01", id="port-1", model="virtio"),
          dict(type="bridge", bridge="br0", mac="fa:16:3e:00:00:02", model="e1000", mtu=1400)],
    vnc=dict(listen="127.0.0.1", port=-1),
    metadata=dict(name="web1", flavor=dict(vcpus=2, memory_mb=128), state="running", image=dict(id="img")),
)

# What libvirt gives back for a running domain: its own additions everywhere.
LIVE = """<domain type='qemu' id='7'>
  <name>web1</name><uuid>0f4b8ae3-8bd7-5d56-9b0a-3b5b0a1d2c3e</uuid>
  <metadata><novaops:instance xmlns:novaops="https://novaops.example/compute/1">
    <novaops:desired format="json">{"state": "running"}</novaops:desired></novaops:instance></metadata>
  <memory unit='KiB'>131072</memory><currentMemory unit='KiB'>131072</currentMemory>
  <vcpu placement='static'>2</vcpu>
  <os><type arch='x86_64' machine='pc-i440fx-7.2'>hvm</type><boot dev='hd'/></os>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='file' device='disk'><driver name='qemu' type='qcow2'/>
      <source file='/i/u/disk' index='1'/>
      <backingStore type='file' index='2'><format type='raw'/><source file='/i/_base/abc'/><backingStore/></backingStore>
      <target dev='vda' bus='virtio'/><alias name='virtio-disk0'/></disk>
    <disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='/i/u/disk.swap'/>
      <target dev='vdb' bus='virtio'/></disk>
    <controller type='usb' index='0' model='piix3-uhci'/>
    <interface type='bridge'><mac address='FA:16:3E:00:00:01'/><source bridge='br-int'/>
      <virtualport type='openvswitch'><parameters interfaceid='port-1' profileid=''/></virtualport>
      <target dev='vnet0'/><model type='virtio'/><alias name='net0'/></interface>
    <interface type='bridge'><mac address='fa:16:3e:00:00:02'/><source bridge='br0'/>
      <target dev='vnet1'/><model type='e1000'/><mtu size='1400'/></interface>
    <graphics type='vnc' port='5901' autoport='yes' listen='127.0.0.1'><listen type='address' address='127.0.0.1'/></graphics>
  </devices>
</domain>"""


def test_built_xml_reads_back_as_the_spec():
    facts = dx.spec_facts(SPEC)
    assert facts["name"] == "web1" and facts["vcpus"] == 2 and facts["memory_mb"] == 128
    assert [d["target"] for d in facts["disks"]] == ["vda", "vdb"]
    assert facts["vifs"][0]["virtualport"] == "openvswitch" and facts["vifs"][0]["id"] == "port-1"
    assert facts["vifs"][1]["virtualport"] is None and facts["vifs"][1]["mtu"] == 1400
    assert facts["vnc"] == dict(listen="127.0.0.1", port=-1, autoport=True)
    assert facts["metadata"]["flavor"]["vcpus"] == 2


def differing(wanted, current):
    """The settings whose config_view differs: what libvirt_domain's plan compares."""
    want, have = dx.config_view(wanted), dx.config_view(current)
    return [key for key in ("uuid", "virt_type", "vcpus", "memory_mb", "disks", "vifs", "vnc")
            if want.get(key) != have.get(key)]


def test_libvirt_additions_are_no_difference():
    assert differing(dx.spec_facts(SPEC), dx.parse_domain_xml(LIVE)) == []


@pytest.mark.parametrize("change, key", [
    (dict(vcpus=4), "vcpus"),
    (dict(memory_mb=256), "memory_mb"),
    (dict(vnc=dict(listen="0.0.0.0", port=-1)), "vnc"),
    (dict(disks=SPEC["disks"][:1]), "disks"),
])
def test_each_setting_is_a_difference(change, key):
    spec = dict(SPEC, **change)
    assert differing(dx.spec_facts(spec), dx.parse_domain_xml(LIVE)) == [key]


def test_a_changed_mac_or_port_is_a_difference():
    vifs = [dict(SPEC["vifs"][0], mac="fa:16:3e:00:00:09"), SPEC["vifs"][1]]
    assert differing(dx.spec_facts(dict(SPEC, vifs=vifs)), dx.parse_domain_xml(LIVE)) == ["vifs"]


def test_backing_chain_of_the_live_xml():
    disks = dx.parse_domain_xml(LIVE)["disks"]
    assert disks[0]["backing_chain"] == [dict(path="/i/_base/abc", format="raw")]
    assert disks[1]["backing_chain"] == []


def test_metadata_round_trip_and_fixed_namespace():
    xml = dx.build_domain_xml(SPEC)
    assert 'xmlns:novaops="https://novaops.example/compute/1"' in xml
    assert dx.parse_domain_xml(xml)["metadata"] == SPEC["metadata"]
    assert dx.parse_domain_xml(LIVE)["metadata"] == {"state": "running"}
    assert dx.metadata_xml(dict(state="paused")).startswith("<instance><state>paused</state><desired")


def test_stable_identity():
    assert dx.stable_uuid("web1") == dx.stable_uuid("web1") != dx.stable_uuid("web2")
    mac = dx.stable_mac("u", "port-1")
    assert mac == dx.stable_mac("u", "port-1") and mac.startswith("fa:16:3e:")
    assert mac != dx.stable_mac("u", "port-2") and mac != dx.stable_mac("v", "port-1")


def test_disk_targets():
    assert [dx.disk_target(i) for i in (0, 1, 25, 26)] == ["vda", "vdb", "vdz", "vdaa"]
    assert dx.disk_target(0, "scsi") == "sda"


def test_bad_xml_is_a_clear_error():
    with pytest.raises(NovaopsError, match="does not parse"):
        dx.parse_domain_xml("<domain><name>x</domain>")
    with pytest.raises(NovaopsError, match="not a <domain>"):
        dx.parse_domain_xml("<network/>")


def test_a_tap_asked_for_is_part_of_the_config_and_libvirts_vnet_is_not():
    spec = dict(SPEC, vifs=[dict(SPEC["vifs"][0], dev="tapport-1")])
    facts = dx.spec_facts(spec)
    assert facts["vifs"][0]["target"] == "tapport-1"
    assert dx.config_view(facts)["vifs"][0]["dev"] == "tapport-1"
    assert not differing(spec, facts)
    assert differing(spec, dx.spec_facts(SPEC)) == ["vifs"]
    running = dx.parse_domain_xml(dx.build_domain_xml(SPEC).replace(
        "<model type=\"virtio\" />", "<target dev=\"vnet7\" /><model type=\"virtio\" />"))
    assert running["vifs"][0]["target"] == "vnet7" and not differing(SPEC, running)

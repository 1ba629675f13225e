# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""qemu_leftovers: which block nodes are provably an interrupted copy's of ours, and nothing else."""

from __future__ import annotations

import json

from ansible_collections.novaops.compute.plugins.module_utils.libvirt.qemu_leftovers import indexes_in_use, leftover_nodes

SNAPS = "/var/lib/nova/instances/snapshots"
OURS = SNAPS + "/web1-vda-k3j2/overlay.qcow2"

LIVE_XML = """<domain><name>web1</name><devices>
<disk type='file' device='disk'><source file='/i/disk' index='3'/>
  <backingStore type='file' index='1'><source file='/b/base'/></backingStore><target dev='vda'/></disk>
<controller type='usb' index='7'/>
</devices></domain>"""


def node(name, filename):
    return {"node-name": name, "file": filename}


def test_indexes_of_disks_only():
    assert indexes_in_use(LIVE_XML) == {1, 3}


def test_a_copy_target_of_ours_format_before_storage():
    nodes = [node("libvirt-5-storage", OURS), node("libvirt-5-format", OURS), node("libvirt-3-format", "/i/disk")]
    assert leftover_nodes(nodes, {1, 3}, SNAPS, "web1") == ["libvirt-5-format", "libvirt-5-storage"]


def test_a_format_node_named_by_json_pseudo_filename():
    pseudo = "json:" + json.dumps({"backing": None, "driver": "qcow2", "file": {"driver": "file", "filename": OURS}})
    nodes = [node("libvirt-5-format", pseudo), node("libvirt-5-storage", OURS)]
    assert leftover_nodes(nodes, set(), SNAPS, "web1") == ["libvirt-5-format", "libvirt-5-storage"]


def test_only_the_storage_node_was_added():
    assert leftover_nodes([node("libvirt-4-storage", OURS)], {1, 3}, SNAPS, "web1") == ["libvirt-4-storage"]


def test_left_alone():
    nodes = [
        node("libvirt-3-storage", OURS),                                    # the live XML uses index 3
        node("libvirt-6-storage", "/b/base"),                               # not in the snapshots directory
        node("libvirt-7-storage", SNAPS + "/overlay.qcow2"),                # not in a per-run workspace
        node("libvirt-8-storage", SNAPS + "/web10-vda-x/overlay.qcow2"),    # another domain's workspace
        node("libvirt-9-storage", SNAPS + "/web1-vda-x/a/b.qcow2"),         # deeper than a workspace
        node("libvirt-10-storage", "relative/web1-vda-x/o.qcow2"),
        node("my-node", OURS),                                              # not a name libvirt generates
        node("libvirt-11-format", OURS),                                    # a format node without its storage
    ]
    assert leftover_nodes(nodes, {1, 3}, SNAPS, "web1") == []


def test_a_format_node_on_another_file_keeps_its_group():
    nodes = [node("libvirt-5-format", "/b/base"), node("libvirt-5-storage", OURS)]
    assert leftover_nodes(nodes, set(), SNAPS, "web1") == []

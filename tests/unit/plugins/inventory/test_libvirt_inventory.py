# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The inventory machinery against libvirt's test driver (test:///default, shared by every
connection of this process): hosts, state groups, needs_repair, constructed options, cache."""

from __future__ import annotations

import json

import pytest

from ansible.inventory.manager import InventoryManager
from ansible.parsing.dataloader import DataLoader

from ansible_collections.novaops.compute.plugins.module_utils.libvirt import domain_xml as dx

libvirt = pytest.importorskip("libvirt")

TEST_URI = "test:///default"


def desired_domain(name, state="running"):
    uuid = dx.stable_uuid(name)
    desired = dict(name=name, uuid=uuid, state=state, instances_path="/nonexistent/inst",
                   image=dict(path="/nonexistent/image.qcow2"), flavor=dict(vcpus=1, memory_mb=64), vifs=[])
    return dx.build_domain_xml(dict(name=name, uuid=uuid, virt_type="test", vcpus=1, memory_mb=64,
                                    metadata=desired, disks=[], vifs=[]))


@pytest.fixture(scope="module")
def domains():
    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
    conn = libvirt.open(TEST_URI)
    made = []
    for name, desired in (("nu-run", "running"), ("nu-off", "running"), ("nu-stop", "shutdown")):
        dom = conn.defineXML(desired_domain(name, desired))
        made.append(dom)
        if name != "nu-off":
            dom.create()
    yield conn
    for dom in made:
        if dom.isActive():
            dom.destroy()
        dom.undefine()
    conn.close()


def inventory(tmp_path, config, name="fleet.novaops_libvirt.yml"):
    path = tmp_path / name
    path.write_text(json.dumps(dict(dict(plugin="novaops.compute.libvirt", uris=[TEST_URI], host_checks=False),
                                    **config)))
    return InventoryManager(loader=DataLoader(), sources=[str(path)])


def members(inv, group):
    return sorted(h.name for h in inv.groups[group].get_hosts()) if group in inv.groups else None


def test_hosts_and_groups(domains, tmp_path):
    inv = inventory(tmp_path, dict(include=["nu-*"]))
    assert members(inv, "libvirt") == ["nu-off", "nu-run", "nu-stop"]
    assert members(inv, "needs_repair") == ["nu-off", "nu-stop"]
    assert members(inv, "running") == ["nu-run", "nu-stop"]
    assert members(inv, "shutoff") == ["nu-off"]
    for group in ("paused", "suspended", "crashed", "rescued", "busy"):
        assert members(inv, group) == []
    host = inv.get_host("nu-stop").get_vars()
    assert host["novaops_repair"] == "converge" and host["novaops_repair_reasons"] == ["running, desired shutoff"]
    assert host["novaops_hypervisor"] == "localhost" and host["novaops_libvirt_local_uri"] == "test:///default"
    assert host["ansible_connection"] == "local"
    assert inv.get_host("nu-off").get_vars()["novaops_repair"] == "hard_reboot"


def test_domains_without_desired_state_get_no_verdict(domains, tmp_path):
    inv = inventory(tmp_path, dict(include=["test"]))      # the test driver's own domain
    assert members(inv, "libvirt") == ["test"] and members(inv, "needs_repair") == []


def test_constructed_options(domains, tmp_path):
    inv = inventory(tmp_path, dict(
        include=["nu-*"], exclude=["nu-stop"], hostname="uuid", connection_vars=False,
        compose=dict(short="novaops_name[3:]"), groups=dict(wants_running="novaops_desired_state == 'running'"),
        keyed_groups=[dict(key="novaops_power_state", prefix="power")]))
    uuid = dx.stable_uuid("nu-run")
    assert members(inv, "libvirt") == sorted([uuid, dx.stable_uuid("nu-off")])
    assert inv.get_host(uuid).get_vars()["short"] == "run"
    assert "ansible_connection" not in inv.get_host(uuid).get_vars()
    assert members(inv, "wants_running") == members(inv, "libvirt")
    assert members(inv, "power_running") == [uuid]


def test_per_uri_filters_and_labels(domains, tmp_path):
    inv = inventory(tmp_path, dict(uris=[dict(uri=TEST_URI, name="hv-a", include="nu-r*"),
                                         dict(uri=TEST_URI, name="hv-b", include=["nu-o*", "nu-s*"], exclude="nu-s*")]))
    assert members(inv, "libvirt") == ["nu-off", "nu-run"]
    assert inv.get_host("nu-run").get_vars()["novaops_hypervisor"] == "hv-a"
    assert inv.get_host("nu-off").get_vars()["novaops_hypervisor"] == "hv-b"


def test_every_hypervisor_read_is_listed_those_without_instances_too(domains, tmp_path):
    inv = inventory(tmp_path, dict(uris=[dict(uri=TEST_URI, name="hv-a"),
                                         dict(uri=TEST_URI, name="hv-empty", include="no-such-*")]))
    assert inv.groups["all"].get_vars()["novaops_hypervisors_libvirt"] == [
        dict(name="hv-a", uri=TEST_URI), dict(name="hv-empty", uri=TEST_URI)]


def test_the_same_instance_through_two_uris_is_one_host(domains, tmp_path):
    inv = inventory(tmp_path, dict(uris=[TEST_URI, dict(uri=TEST_URI, name="again")], include=["nu-run"]))
    assert members(inv, "libvirt") == ["nu-run_%s" % dx.stable_uuid("nu-run")[:8]]
    assert inv.get_host(members(inv, "libvirt")[0]).get_vars()["novaops_hypervisor"] == "again"   # sorted first


def test_cache_is_used_until_refreshed(domains, tmp_path):
    config = dict(include=["nu-*"], cache=True, cache_plugin="ansible.builtin.jsonfile",
                  cache_connection=str(tmp_path / "cache"), cache_timeout=3600)
    first = inventory(tmp_path, config)
    assert members(first, "shutoff") == ["nu-off"]
    dom = domains.lookupByName("nu-off")
    dom.create()
    try:
        cached = inventory(tmp_path, config)
        assert members(cached, "shutoff") == ["nu-off"]        # from the cache
        cached.refresh_inventory()
        assert members(cached, "shutoff") == [] and "nu-off" in members(cached, "running")
    finally:
        dom.destroy()


def test_verify_file_accepts_the_suffix_or_the_plugin_key(tmp_path):
    from ansible.plugins.loader import inventory_loader
    plugin = inventory_loader.get("novaops.compute.libvirt")
    named = tmp_path / "x.novaops_libvirt.yml"
    named.write_text("plugin: whatever\n")
    keyed = tmp_path / "inventory.yml"
    keyed.write_text("# fleet\nplugin: novaops.compute.libvirt\n")
    other = tmp_path / "hosts.yml"
    other.write_text("all:\n  hosts: {a: {}}\n")
    assert plugin.verify_file(str(named)) and plugin.verify_file(str(keyed))
    assert not plugin.verify_file(str(other)) and not plugin.verify_file(str(tmp_path / "missing.novaops_libvirt.yml"))

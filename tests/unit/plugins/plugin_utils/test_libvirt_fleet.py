# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import json
import shlex

import pytest

from ansible_collections.novaops.compute.plugins.module_utils.libvirt import domain_xml as dx
from ansible_collections.novaops.compute.plugins.module_utils.common import instance_health as health
from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError
from ansible_collections.novaops.compute.plugins.plugin_utils import libvirt_fleet as lf
from ansible_collections.novaops.compute.plugins.plugin_utils.fleet_inventory import SourceError

SSH = "qemu+ssh://nova@hv2.example.com:2200/system?keyfile=/k/id&known_hosts=/k/kh&no_verify=1"


def test_local_uri():
    uri = lf.HypervisorURI("qemu:///system")
    assert uri.is_local and uri.name == "localhost" and uri.local_uri == "qemu:///system"
    assert uri.connection_vars()["ansible_connection"] == "local"
    assert uri.ssh_argv(["true"]) is None


def test_ssh_uri_parts_and_connection_vars():
    uri = lf.HypervisorURI(SSH, name="hv2")
    assert (uri.driver, uri.transport, uri.user, uri.host, uri.port, uri.path) == \
        ("qemu", "ssh", "nova", "hv2.example.com", 2200, "/system")
    assert not uri.is_local and uri.name == "hv2" and uri.local_uri == "qemu:///system"
    assert uri.connection_vars() == dict(
        ansible_host="hv2.example.com", ansible_port=2200, ansible_user="nova", ansible_ssh_private_key_file="/k/id",
        ansible_ssh_common_args="-o UserKnownHostsFile=/k/kh -o StrictHostKeyChecking=no")


def test_ssh_argv_quotes_every_argument_for_the_remote_shell():
    uri = lf.HypervisorURI(SSH)
    argv = uri.ssh_argv(["ls", "-d", "--", "/a b/x;rm -rf /", "$(id)"], timeout=5)
    assert argv[:7] == ["ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=5", "-T", "-p"]
    assert "-i" in argv and "/k/id" in argv and "UserKnownHostsFile=/k/kh" in argv
    assert argv[-3:-1] == ["hv2.example.com", "--"]
    assert shlex.split(argv[-1]) == ["ls", "-d", "--", "/a b/x;rm -rf /", "$(id)"]


def test_tls_uri_has_no_probe_and_no_ssh_vars():
    uri = lf.HypervisorURI("qemu+tls://hv3.example.com/system")
    assert not lf.HostProbe(uri).possible
    assert uri.connection_vars() == dict(ansible_host="hv3.example.com")


@pytest.mark.parametrize("bad", ["not a uri", "qemu", "/var/run/libvirt", "qemu+ssh://h:99999/system"])
def test_bad_uris_are_refused(bad):
    with pytest.raises(SourceError):
        lf.HypervisorURI(bad)


def domain_xml(name="web1", uuid="0f4b8ae3-8bd7-5d56-9b0a-3b5b0a1d2c3e", disks=("disk",), task=None, state="running"):
    desired = dict(name=name, uuid=uuid, state=state, instances_path="/srv/inst",
                   image=dict(path="/images/cirros.qcow2"), flavor=dict(vcpus=1, memory_mb=64),
                   vifs=[dict(id="port-1", bridge="br-int", mac="fa:16:3e:00:00:01", type="ovs")])
    xml = dx.build_domain_xml(dict(
        name=name, uuid=uuid, virt_type="qemu", vcpus=1, memory_mb=64, metadata=desired,
        disks=[dict(path="/srv/inst/%s/%s" % (uuid, d), format="qcow2", target="vd%s" % chr(97 + i))
               for i, d in enumerate(disks)],
        vifs=[dict(id="port-1", bridge="br-int", mac="fa:16:3e:00:00:01", type="ovs")]))
    if task:
        xml = xml.replace("</metadata>", '<t:task xmlns:t="%s" operation="%s" owner="me" started_at="1"/></metadata>'
                          % ("https://novaops.example/compute/1/task", task))
    return xml


def test_domain_instance_reads_desired_state_base_and_lock():
    uri = lf.HypervisorURI("qemu:///system")
    inst = lf.domain_instance(uri, "web1", "0f4b8ae3-8bd7-5d56-9b0a-3b5b0a1d2c3e", "shutoff", 3,
                              domain_xml(task="resize"))
    assert inst["power_state"] == "crashed" and inst["state_reason"] == "crashed"
    assert inst["desired_state"] == "running" and inst["desired_recorded"] == "running"
    assert inst["task"]["operation"] == "resize"
    assert inst["extra_vars"]["base_file"].startswith("/srv/inst/_base/")
    assert inst["extra_vars"]["instance_dir"] == "/srv/inst/0f4b8ae3-8bd7-5d56-9b0a-3b5b0a1d2c3e"
    assert inst["vifs"][0]["type"] == "ovs" and inst["vifs"][0]["id"] == "port-1"
    assert not inst["rescued"]


def test_a_rescue_disk_means_rescued():
    inst = lf.domain_instance(lf.HypervisorURI("qemu:///system"), "web1", "0f4b8ae3-8bd7-5d56-9b0a-3b5b0a1d2c3e",
                              "running", 1, domain_xml(disks=("disk.rescue", "disk")))
    assert inst["rescued"]


class FakeProbe:
    def __init__(self, files, interfaces, fail_files=False, fail_ovs=False):
        self.files, self.interfaces, self.fail_files, self.fail_ovs = set(files), interfaces, fail_files, fail_ovs
        self.asked = []

    def existing(self, paths):
        self.asked.append(sorted(paths))
        if self.fail_files:
            raise NovaopsError("ssh: connection refused")
        return set(p for p in paths if p in self.files)

    def ovs_interfaces(self):
        if self.fail_ovs:
            raise NovaopsError("ovs-vsctl: database connection failed")
        return self.interfaces


def instance(state="running", reason=1, **kw):
    return lf.domain_instance(lf.HypervisorURI("qemu:///system"), "web1", "0f4b8ae3-8bd7-5d56-9b0a-3b5b0a1d2c3e",
                              state, reason, domain_xml(**kw))


def test_host_checks_find_missing_base_port_lock_file_and_unrescue():
    inst = instance()
    idir = inst["extra_vars"]["instance_dir"]
    probe = FakeProbe([idir + "/unrescue.xml", idir + "/novaops-task.lock"], {"other-port": [("tap9", "")]})
    lf.check_on_host([inst], probe, warn=None)
    assert inst["missing_base"] == [inst["extra_vars"]["base_file"]]
    assert inst["missing_ports"] == ["port-1"] and inst["vifs"][0]["ovs_port"] is None
    assert inst["rescued"] and inst["task"]["source"] == "lock_file"
    assert probe.asked == [sorted([inst["extra_vars"]["base_file"], idir + "/unrescue.xml",
                                   idir + "/novaops-task.lock", idir + "_resize/resize.json",
                                   idir + "/resize.json"])]
    assert inst["resize"] is None


@pytest.mark.parametrize("record", ["_resize/resize.json", "/resize.json"])
def test_host_checks_find_a_resize_that_is_not_over(record):
    """The source's definition after a migration: shut off, its original waiting in <uuid>_resize."""
    inst = instance(state="shutoff", reason=1)
    idir = inst["extra_vars"]["instance_dir"]
    lf.check_on_host([inst], FakeProbe([inst["extra_vars"]["base_file"], idir + record], {}), warn=None)
    assert inst["resize"] == idir + record + " is there"
    found = health.classify(inst)
    assert found["busy"] and not found["needs_repair"]


def test_host_checks_of_a_healthy_instance():
    inst = instance()
    probe = FakeProbe([inst["extra_vars"]["base_file"]], {"port-1": [("tap0", "fa:16:3e:00:00:01")]})
    lf.check_on_host([inst], probe, warn=None)
    assert inst["missing_base"] == [] and inst["missing_ports"] == [] and inst["vifs"][0]["ovs_port"] == "tap0"
    assert not inst["rescued"] and inst["task"] is None


def test_a_port_of_another_mac_does_not_count():
    inst = instance()
    probe = FakeProbe([inst["extra_vars"]["base_file"]], {"port-1": [("tap0", "fa:16:3e:99:99:99")]})
    lf.check_on_host([inst], probe, warn=None)
    assert inst["missing_ports"] == ["port-1"]


def test_ports_are_not_asked_for_stopped_domains():
    inst = instance(state="shutoff", reason=2)
    probe = FakeProbe([inst["extra_vars"]["base_file"]], None, fail_ovs=True)
    lf.check_on_host([inst], probe, warn=None)
    assert inst["missing_ports"] == []


def test_probe_failures_warn_and_judge_nothing():
    inst = instance()
    warnings = []
    lf.check_on_host([inst], FakeProbe([], {}, fail_files=True, fail_ovs=True), warnings.append)
    assert inst["missing_base"] == [] and inst["missing_ports"] == []
    assert len(warnings) == 2 and "connection refused" in warnings[0] and "ovs-vsctl" in warnings[1]


def test_local_probe_runs_ovs_vsctl_with_stdin(monkeypatch):
    calls = []

    class Proc:
        returncode = 0
        stdout = json.dumps(dict(headings=["_uuid", "name", "external_ids"], data=[
            [["uuid", "u1"], "tap0", ["map", [["iface-id", "port-1"], ["attached-mac", "FA:16:3E:00:00:01"]]]],
            [["uuid", "u2"], "br-int", ["map", []]]]))
        stderr = ""

    def fake_run(argv, **kwargs):
        calls.append((argv, kwargs))
        return Proc()

    monkeypatch.setattr(lf.subprocess, "run", fake_run)
    probe = lf.HostProbe(lf.HypervisorURI("qemu:///system"))
    assert probe.ovs_interfaces() == {"port-1": [("tap0", "fa:16:3e:00:00:01")]}
    argv, kwargs = calls[0]
    assert argv[0] == "ovs-vsctl" and "list" in argv and kwargs["input"] == ""


def test_remote_probe_lists_existing_files_over_ssh(monkeypatch):
    calls = []

    class Proc:
        returncode = 0
        stdout = "/srv/inst/_base/a\n"
        stderr = ""

    monkeypatch.setattr(lf.subprocess, "run", lambda argv, **kw: calls.append(argv) or Proc())
    probe = lf.HostProbe(lf.HypervisorURI(SSH))
    assert probe.existing(["/srv/inst/_base/a", "/srv/inst/_base/b"]) == {"/srv/inst/_base/a"}
    assert calls[0][0] == "ssh"
    remote = shlex.split(calls[0][-1])
    assert remote[:2] == ["sh", "-c"] and remote[-2:] == ["/srv/inst/_base/a", "/srv/inst/_base/b"]


def test_ssh_defaults_fill_in_what_the_uri_lacks():
    uri = lf.HypervisorURI("qemu+libssh2://root@hv4/system", name="hv4")
    out = uri.with_ssh_defaults("/cred/key", "/cred/known_hosts")
    assert out.params == {"keyfile": "/cred/key", "known_hosts": "/cred/known_hosts"} and out.name == "hv4"
    assert out.connection_vars()["ansible_ssh_private_key_file"] == "/cred/key"
    kept = lf.HypervisorURI(SSH).with_ssh_defaults("/cred/key", "/cred/known_hosts")
    assert kept.params["keyfile"] == "/k/id" and kept.params["known_hosts"] == "/k/kh"
    local = lf.HypervisorURI("qemu:///system")
    assert local.with_ssh_defaults("/cred/key", None) is local


def test_role_vars_follow_the_roles_conventions():
    inst = instance()
    assert inst["role_vars"] == dict(compute_driver="libvirt", instance_name="web1",
                                     instance_uuid="0f4b8ae3-8bd7-5d56-9b0a-3b5b0a1d2c3e", libvirt_uri="qemu:///system",
                                     libvirt_instances_path="/srv/inst", libvirt_virt_type="qemu")

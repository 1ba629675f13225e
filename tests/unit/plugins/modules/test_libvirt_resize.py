# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The module loads, its options compose, and an action's OS error becomes a failure that names it."""

from __future__ import annotations

import errno

import pytest

from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError
from ansible_collections.novaops.compute.plugins.module_utils.libvirt import domain_xml
from ansible_collections.novaops.compute.plugins.modules import libvirt_resize


def test_the_options_compose_without_clashes():
    spec = libvirt_resize.argument_spec().argument_spec
    assert spec["state"]["choices"] == ["migrated", "confirmed", "reverted"]
    assert spec["ssh_private_key"]["no_log"] is True
    assert spec["insecure_ignore_host_key"]["default"] is False
    assert "uri" in spec


def test_an_os_error_of_an_action_names_the_action():
    @libvirt_resize.foreseen("moving the instance directory to _resize")
    def move():
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    with pytest.raises(NovaopsError, match="Moving the instance directory to _resize failed: .*cross-device"):
        move()


def test_foreseen_faults_pass_through_and_bugs_stay_bugs():
    @libvirt_resize.foreseen("copying")
    def refused():
        raise NovaopsError("no space")

    @libvirt_resize.foreseen("copying")
    def bug():
        raise KeyError("name")

    with pytest.raises(NovaopsError, match="^no space$"):
        refused()
    with pytest.raises(KeyError):
        bug()


# -- what the destination's step is to do, and which instance a name and a uuid find --------------------------
UUID_A = "0f4b8ae3-8bd7-4d56-9b0a-3b5b0a1d2c3e"
UUID_B = "1f4b8ae3-8bd7-4d56-9b0a-3b5b0a1d2c3e"


@pytest.mark.parametrize("prior, state, domain_state", [
    ("running", "running", "running"),
    ("shutoff", "shutdown", "shutoff"),
    (None, "shutdown", "shutoff"),          # no resize recorded: as the resize role did before
])
def test_finish_brings_the_instance_to_its_power_state_from_before(prior, state, domain_state):
    flavor = dict(vcpus=2, memory_mb=128, root_gb=1, ephemeral_gb=0, swap_mb=0)
    done = libvirt_resize.finish(prior, flavor)
    assert done == dict(flavor=flavor, state=state, domain_state=domain_state)


def test_root_mb_is_accepted_and_left_out_of_the_flavor():
    spec = libvirt_resize.argument_spec().argument_spec
    assert "root_mb" in spec["flavor"]["options"]
    flavor = dict(vcpus=2, memory_mb=128, root_gb=1, ephemeral_gb=0, swap_mb=0, root_mb=96)
    assert libvirt_resize.libvirt_flavor(flavor) == dict(vcpus=2, memory_mb=128, root_gb=1, ephemeral_gb=0, swap_mb=0)
    assert libvirt_resize.libvirt_flavor(None) is None


class FakeDomain:
    def __init__(self, name, uuid, flavor=None, active=False):
        self._name, self._uuid = name, uuid
        self.flavor, self.active = flavor, active

    def isActive(self):
        return self.active

    def XMLDesc(self, _flags=0):
        return domain_xml.build_domain_xml(dict(name=self._name, uuid=self._uuid, vcpus=2, memory_mb=128,
                                                metadata=dict(flavor=self.flavor), disks=[], vifs=[]))

    def name(self):
        return self._name

    def UUIDString(self):
        return self._uuid


class FakeConn:
    uri = "qemu:///system"

    def __init__(self, *domains):
        self.domains = domains

    def lookup(self, name=None, uuid=None):
        return next((d for d in self.domains if (name and d.name() == name) or (uuid and d.UUIDString() == uuid)), None)


def resize_of(conn, name=None, uuid=None):
    resize = object.__new__(libvirt_resize.Resize)
    resize.params = dict(name=name, uuid=uuid)
    resize.conn = conn
    resize.uuid = None
    return resize


def test_the_domain_of_the_name_here_gives_the_uuid_else_the_uuid_given():
    here = FakeConn(FakeDomain("web", UUID_A))
    resize = resize_of(here, name="web", uuid=UUID_A.upper())
    assert resize.lookup().name() == "web" and resize.uuid == UUID_A
    resize = resize_of(here, name="web")
    resize.lookup()
    assert resize.uuid == UUID_A
    gone = resize_of(FakeConn(), name="web", uuid=UUID_B)       # it went to another host
    assert gone.lookup() is None and gone.uuid == UUID_B


def test_a_name_and_a_uuid_of_two_instances_are_refused():
    resize = resize_of(FakeConn(FakeDomain("web", UUID_A)), name="web", uuid=UUID_B)
    with pytest.raises(NovaopsError, match="named web .* has the UUID %s, not %s" % (UUID_A, UUID_B)):
        resize.lookup()
    with pytest.raises(NovaopsError, match="No domain named 'web'"):
        resize_of(FakeConn(), name="web").lookup()


FLAVOR = dict(vcpus=2, memory_mb=128, root_gb=1, ephemeral_gb=0, swap_mb=0)


@pytest.mark.parametrize("active, state", [(True, "running"), (False, "shutdown")])
def test_a_resize_run_again_after_its_confirm_keeps_the_power_state_it_is_in(active, state):
    """No record, the flavor already defined where the instance lives: nothing to move, and the finish step
    must not shut a running instance off (there is no "state from before")."""
    resize = resize_of(FakeConn(FakeDomain("web", UUID_A, flavor=FLAVOR, active=active)), name="web")
    resize.params.update(flavor=FLAVOR, state="migrated")
    resize.dest_conn, resize.resized_state, resize.note = None, None, None
    resize.bytes, resize.transfers, resize.powered_off = 0, [], False
    resize.idir = type("Dir", (), {"path": "/srv/instances/" + UUID_A})()
    resize.lookup()
    dest = dict(host=None, instances_path="/srv/instances")
    assert resize.already_resized(dest)
    assert resize.result(dict(prior_state=None))["finish"]["state"] == state


def test_a_resize_to_another_flavor_is_not_found_done():
    resize = resize_of(FakeConn(FakeDomain("web", UUID_A, flavor=FLAVOR, active=True)), name="web")
    resize.params.update(flavor=dict(FLAVOR, vcpus=4))
    resize.dest_conn, resize.resized_state = None, None
    resize.idir = type("Dir", (), {"path": "/srv/instances/" + UUID_A})()
    resize.lookup()
    assert not resize.already_resized(dict(host=None, instances_path="/srv/instances"))
    assert resize.resized_state is None

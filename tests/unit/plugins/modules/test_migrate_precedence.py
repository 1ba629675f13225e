# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""libvirt_migrate and xen_migrate decide which of two given ways of naming the instance or its destination
they use (the live_migrate role passes what the operator set and no longer chooses in Jinja): a named
destination wins over candidates or the host to leave, a UUID over a name; the loser is reported set aside."""

from __future__ import annotations

import pytest
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.novaops.compute.plugins.module_utils.libvirt import migration_options
from ansible_collections.novaops.compute.plugins.module_utils.xenapi import vm_migration
from ansible_collections.novaops.compute.plugins.modules import libvirt_migrate

UUID = "6f1c1e3a-5d2b-4f0e-9a51-2b3c4d5e6f70"
URI2 = "qemu+tcp://hv2/system"


def _errors(spec, params):
    validator = ArgumentSpecValidator(spec.argument_spec, mutually_exclusive=spec.mutually_exclusive,
                                      required_one_of=spec.required_one_of, required_if=spec.required_if)
    return [str(e) for e in validator.validate(params).errors]


def test_libvirt_migrate_takes_a_destination_and_candidates_together():
    assert _errors(libvirt_migrate.argument_spec(), dict(
        uuid=UUID, name="i-1", dest_uri=URI2, dest_candidates=[URI2, "qemu+tcp://hv3/system"], storage="block")) == []


def test_libvirt_migrate_still_wants_a_destination_or_candidates():
    errors = _errors(libvirt_migrate.argument_spec(), dict(name="i-1", storage="block"))
    assert any("dest_uri" in e and "dest_candidates" in e for e in errors)


@pytest.mark.parametrize("given,kept,aside", [
    (dict(uuid=UUID, name="i-1", dest_uri=URI2, dest_candidates=[URI2]),
     dict(uuid=UUID, name=None, dest_uri=URI2, dest_candidates=None), ["name", "dest_candidates"]),
    (dict(uuid=None, name="i-1", dest_uri=None, dest_candidates=[URI2]),
     dict(uuid=None, name="i-1", dest_uri=None, dest_candidates=[URI2]), []),
    (dict(uuid="", name="i-1", dest_uri="", dest_candidates=[URI2]),
     dict(uuid="", name="i-1", dest_uri="", dest_candidates=[URI2]), []),
    (dict(uuid=UUID, name=None, dest_uri=URI2, dest_candidates=[]),
     dict(uuid=UUID, name=None, dest_uri=URI2, dest_candidates=[]), []),
])
def test_libvirt_migrate_uuid_and_dest_uri_win(given, kept, aside):
    params = dict(given)
    assert migration_options.settle_precedence(params) == aside
    assert params == kept


def test_xen_migrate_takes_a_host_and_the_host_to_leave_together():
    spec = vm_migration.argument_spec()
    assert _errors(spec, dict(vm="i-1", host="xenhost-02", leave_host="xenhost-01")) == []


@pytest.mark.parametrize("host,leave,kept,aside", [
    ("xenhost-02", "xenhost-01", None, ["leave_host"]),
    (None, "xenhost-01", "xenhost-01", []),
    ("xenhost-02", None, None, []),
])
def test_xen_migrate_a_named_host_wins_over_leave_host(host, leave, kept, aside):
    params = dict(vm="i-1", host=host, leave_host=leave)
    assert vm_migration.settle_destination(params) == aside
    assert params["leave_host"] == kept and params["host"] == host

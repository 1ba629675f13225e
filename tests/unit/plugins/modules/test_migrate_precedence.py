# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""libvirt_migrate decides which of two given ways of naming the instance or its destination it uses (the
live_migrate role passes what the operator set and no longer chooses in Jinja): a named destination wins over
candidates, a UUID over a name; the loser is reported set aside. Candidates are checked to be libvirt URIs
whether they are weighed or set aside."""

from __future__ import annotations

import pytest
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError
from ansible_collections.novaops.compute.plugins.module_utils.libvirt import migration_options
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


@pytest.mark.parametrize("uri", ["qemu+tcp://hv2/system", "qemu:///system", "qemu+ssh://root@hv2:2222/system?keyfile=/k",
                                 "test:///default", "qemu+tcp://127.0.0.1:1/system"])
def test_candidates_that_are_libvirt_uris_pass(uri):
    migration_options.check_candidates(dict(dest_candidates=[uri], dest_uri=URI2))


@pytest.mark.parametrize("uri", ["", "   ", "hv2", "$(touch /tmp/x)", "--help", "*", "qemu+tcp://hv2/sys tem",
                                 "qemu+tcp://hv2/system\nx", "Qemu://hv2/system", "qemu+tcp://" + "x" * 1100])
def test_a_candidate_not_a_libvirt_uri_is_refused_even_beside_a_named_destination(uri):
    for dest_uri in (None, URI2):
        with pytest.raises(NovaopsError, match="^dest_candidates: .* is not a libvirt URI"):
            migration_options.check_candidates(dict(dest_candidates=[URI2, uri], dest_uri=dest_uri))

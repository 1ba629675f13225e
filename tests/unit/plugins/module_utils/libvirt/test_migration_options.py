# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""libvirt_migrate's tuning options refused before any connection, each naming the option."""

from __future__ import annotations

import pytest

from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError
from ansible_collections.novaops.compute.plugins.module_utils.libvirt import migration_options

DEFAULTS = dict(bandwidth=0, max_downtime=500, downtime_steps=10, downtime_delay=75, completion_timeout=800,
                rollback_timeout=60, migrate_uri=None)


@pytest.mark.parametrize("uri", [None, "tcp://10.0.0.2", "tcp://hv2.example.org:49152", "rdma://[fe80::1]:4444",
                                 "tcp://hv2/"])
def test_nova_defaults_and_well_formed_uris_pass(uri):
    migration_options.check(dict(DEFAULTS, migrate_uri=uri))


@pytest.mark.parametrize("name,value", [
    ("bandwidth", -1), ("bandwidth", migration_options.BANDWIDTH_MAX + 1), ("max_downtime", 0),
    ("max_downtime", 2000 * 1000 + 1), ("downtime_steps", 0), ("downtime_steps", 2 ** 63 - 1),
    ("downtime_delay", 0), ("downtime_delay", -(2 ** 63)), ("completion_timeout", -1), ("rollback_timeout", -1)])
def test_out_of_range_is_refused_naming_the_option(name, value):
    with pytest.raises(NovaopsError, match="^%s must be" % name):
        migration_options.check(dict(DEFAULTS, **{name: value}))


@pytest.mark.parametrize("uri", ["", "   ", "http://127.0.0.1:1/", "file:///etc/passwd", "tcp://", "tcp://a;b",
                                 "tcp://hv2:0", "tcp://hv2:65536", "tcp://hv2\nx", "--help", "tcp://[::1",
                                 "tcp://u:p@hv2"])
def test_a_migrate_uri_not_tcp_or_rdma_host_port_is_refused(uri):
    with pytest.raises(NovaopsError, match="^migrate_uri must be"):
        migration_options.check(dict(DEFAULTS, migrate_uri=uri))


@pytest.mark.parametrize("name,value,message", [
    ("uuid", "not-a-uuid", "is not a uuid UUID"), ("uuid", "6b1e5b2e-8f3a-4a8e-9f47-1c6f7f1f2a1g", "is not a uuid UUID"),
    ("name", "x" * 100000, "is not a usable domain name"), ("name", "a/b", "is not a usable domain name"),
    ("name", " bi", "is not a usable domain name")])
def test_a_name_or_uuid_no_domain_can_have_is_refused(name, value, message):
    with pytest.raises(NovaopsError, match=message):
        migration_options.check(dict(DEFAULTS, **{name: value}))


def test_the_uuid_is_looked_up_in_lower_case():
    params = dict(DEFAULTS, uuid="6B1E5B2E-8F3A-4A8E-9F47-1C6F7F1F2A10", name=None)
    migration_options.check(params)
    assert params["uuid"] == "6b1e5b2e-8f3a-4a8e-9f47-1c6f7f1f2a10"

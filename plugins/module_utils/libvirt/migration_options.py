# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The live migration's options checked before any connection: each bad value a refusal naming it.

The bounds are libvirt's and QEMU's own (what they would refuse only once the migration has begun), or
keep the downtime schedule (one entry per step) small.
"""

from __future__ import annotations

import re

from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError
from ansible_collections.novaops.compute.plugins.module_utils.common.uuids import check_uuid
from ansible_collections.novaops.compute.plugins.module_utils.libvirt.connection import check_domain_name

# libvirt's QEMU_DOMAIN_MIG_BANDWIDTH_MAX: INT64_MAX bytes/s in MiB/s
BANDWIDTH_MAX = (2 ** 63 - 1) // (1024 * 1024)
# QEMU's MAX_MIGRATE_DOWNTIME_SECONDS (2000 s), in ms
DOWNTIME_MAX = 2000 * 1000
STEPS_MAX = 1000
# tcp://host[:port] or rdma://host[:port]; host a DNS name, an IPv4 address or a bracketed IPv6 one
MIGRATE_URI = re.compile(r"^(tcp|rdma)://(?P<host>[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?|\[[0-9A-Fa-f:.]{2,45}\])"
                         r"(?::(?P<port>[0-9]{1,5}))?/?$")


def _within(params, name, low, high=None):
    value = params[name]
    if value < low or (high is not None and value > high):
        raise NovaopsError("%s must be %s (it is %d)." % (
            name, ("at least %d" % low) if high is None else ("between %d and %d" % (low, high)), value))


# driver[+transport]://[user@][host][:port]/[path][?query], as libvirt URIs are written; no white space
LIBVIRT_URI = re.compile(r"^[a-z][a-z0-9]*(?:\+[a-z0-9]+)?://[^\s]*$")
LIBVIRT_URI_MAX = 1024


def check_candidates(params):
    """Each of dest_candidates must look like a libvirt URI, weighed or set aside (a named destination wins):
    a refusal names the first that does not, before any connection."""
    for uri in params.get("dest_candidates") or []:
        if len(uri) > LIBVIRT_URI_MAX or not LIBVIRT_URI.match(uri):
            raise NovaopsError("dest_candidates: %r is not a libvirt URI (driver[+transport]://[host][:port]/path, "
                               "at most %d characters)." % (uri[:80], LIBVIRT_URI_MAX))


def settle_precedence(params):
    """When a caller gives two ways of naming one thing (the live_migrate role passes whatever the operator
    set and leaves the choice here): the UUID finds the domain and its name is not used; a named destination
    (dest_uri) is the destination and no candidate is weighed. Returns the options set aside."""
    unused = []
    for wins, loses in (("uuid", "name"), ("dest_uri", "dest_candidates")):
        if params.get(wins) and params.get(loses):
            params[loses] = None
            unused.append(loses)
    return unused


def check(params):
    """Raise NovaopsError naming the first option out of its range or form; the UUID in lower case."""
    if params.get("uuid") is not None:
        params["uuid"] = check_uuid(params["uuid"], "uuid")
    if params.get("name") is not None:
        check_domain_name(params["name"])
    _within(params, "bandwidth", 0, BANDWIDTH_MAX)
    _within(params, "max_downtime", 1, DOWNTIME_MAX)
    _within(params, "downtime_steps", 1, STEPS_MAX)
    _within(params, "downtime_delay", 1)
    _within(params, "completion_timeout", 0)
    _within(params, "rollback_timeout", 0)
    uri = params.get("migrate_uri")
    if uri is not None:
        match = MIGRATE_URI.match(uri)
        if not match or (match.group("port") and not 0 < int(match.group("port")) < 65536):
            raise NovaopsError("migrate_uri must be tcp://HOST[:PORT] or rdma://HOST[:PORT] (it is %r)." % uri[:200])

# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Addresses the flows are built from, validated with netaddr (imported on first use: modules that get
no address do not pay for it): ``parse_ip``, ``parse_mac``, ``link_local_from_mac``."""

from __future__ import annotations

from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError

netaddr = None  # imported on first use: modules that get no address do not pay for it


def _require_netaddr():
    global netaddr  # pylint: disable=global-statement
    if netaddr is None:
        try:
            import netaddr as _netaddr
        except ImportError:
            raise NovaopsError("The netaddr Python library is required on the managed node (pip install netaddr).")
        netaddr = _netaddr


def parse_ip(text, what="IP address"):
    """A host address (IPv4 or IPv6) as a netaddr.IPAddress; a clear error when it is not one."""
    _require_netaddr()
    value = str(text).strip()
    try:
        flags = getattr(netaddr, "INET_PTON", 0)
        addr = netaddr.IPAddress(value, flags=flags)
    except (netaddr.AddrFormatError, ValueError, TypeError):
        raise NovaopsError("%s %r is not a valid IPv4 or IPv6 address." % (what, text))
    if addr.is_multicast() or int(addr) == 0 or (addr.version == 4 and int(addr) == 0xffffffff):
        raise NovaopsError("%s %r is not a unicast host address." % (what, text))
    return addr


def parse_mac(text):
    """A unicast MAC as 'aa:bb:cc:dd:ee:ff'; a clear error otherwise."""
    _require_netaddr()
    value = str(text).strip()
    try:
        eui = netaddr.EUI(value)
    except (netaddr.AddrFormatError, ValueError, TypeError):
        raise NovaopsError("MAC address %r is not valid (expected e.g. fa:16:3e:12:34:56)." % (text,))
    if eui.version != 48 or len(value) < 12:
        raise NovaopsError("MAC address %r is not a 48-bit Ethernet address." % (text,))
    if int(eui) == 0 or (int(eui) >> 40) & 1:
        raise NovaopsError("MAC address %r is not a unicast address." % (text,))
    eui.dialect = netaddr.mac_unix_expanded
    return str(eui).lower()


def link_local_from_mac(mac):
    """The EUI-64 IPv6 link-local address a guest derives from its MAC."""
    _require_netaddr()
    return netaddr.EUI(mac).ipv6_link_local()

# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""OpenFlow flows as ``ovs-ofctl add-flows`` reads them, and the cookies that group them
(flow_dump.py parses what ``dump-flows`` prints).

  flow_spec(cookie, priority, match, actions, table)  a line for add-flows
  name_cookie_prefix(text)      a stable 32-bit number for a name (crc32): a cookie's upper half
  cookie_mask(prefix32)         'cookie=value/mask' selecting every flow of one prefix
  table_default_flow(table)     the priority-0 NORMAL flow a pipeline table needs
"""

from __future__ import annotations

import zlib


def name_cookie_prefix(text):
    """A stable 32-bit number for a name, used as the upper half of a flow cookie."""
    return zlib.crc32(text.encode("utf-8")) & 0xffffffff or 1


def cookie_mask(prefix32):
    """A del-flows / dump-flows 'cookie=value/mask' selecting every flow of one prefix."""
    return "0x%x/0xffffffff00000000" % ((prefix32 & 0xffffffff) << 32)


def flow_spec(cookie, priority, match, actions, table=0):
    """A flow line for add-flows."""
    spec = "cookie=0x%x,table=%d,priority=%d" % (cookie, table, priority)
    if match:
        spec += "," + match
    return "%s actions=%s" % (spec, actions)


def table_default_flow(table):
    """'table=N, priority 0, NORMAL': what a pipeline table needs so allowed traffic is forwarded.

    Shared by every VIF and QoS that uses the table, with one well-known cookie; never removed
    (it forwards only what an earlier table sent there).
    """
    cookie = (name_cookie_prefix("novaops-table-default") << 32) | (int(table) & 0xff)
    return cookie, flow_spec(cookie, 0, "", "normal", table=int(table))

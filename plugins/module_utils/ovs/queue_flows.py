# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The rate-limit steering flows of a port's QoS: ``nw_src=<ip> actions=set_queue:<id>,normal``.

Every flow of one port's queues shares the upper 32 bits of its cookie (``qos_cookie_prefix``);
the lower 32 bits are the queue id.
"""

from __future__ import annotations

from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError
from ansible_collections.novaops.compute.plugins.module_utils.ovs.addresses import parse_ip
from ansible_collections.novaops.compute.plugins.module_utils.ovs.openflow import flow_spec, name_cookie_prefix

QUEUE_FLOW_PRIORITY = 100


def qos_cookie_prefix(port):
    return name_cookie_prefix("novaops-qos:%s" % port)


def _ip_field(addr):
    return ("ip", "nw_src") if addr.version == 4 else ("ipv6", "ipv6_src")


def queue_flow(port, queue_id, addr, priority=QUEUE_FLOW_PRIORITY, table=0):
    """The flow that sends a source address's traffic to a queue of port's QoS."""
    proto, field = _ip_field(addr)
    cookie = (qos_cookie_prefix(port) << 32) | (int(queue_id) & 0xffffffff)
    return flow_spec(cookie, priority, "%s,%s=%s" % (proto, field, addr), "set_queue:%d,normal" % int(queue_id),
                     table=table)


def queue_of_actions(actions):
    """The queue id a flow's actions send to (set_queue:N), or None."""
    for action in actions.split(","):
        action = action.strip()
        if action.startswith("set_queue:"):
            try:
                return int(action.split(":", 1)[1])
            except ValueError:
                return None
        if action.startswith("set_queue("):
            try:
                return int(action[len("set_queue("):].rstrip(")"))
            except ValueError:
                return None
    return None


def source_of_match(match_fields):
    """The source IP a flow matches on (nw_src / ipv6_src, host addresses only), or None."""
    for field in ("nw_src", "ipv6_src"):
        value = match_fields.get(field)
        if value and value is not True and "/" not in value:
            try:
                return parse_ip(value)
            except NovaopsError:
                return None
    return None

# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""``ovs-ofctl dump-flows`` output parsed: parse_flows(text) / parse_flow(line) ->
{cookie, table, priority, match, match_fields, actions, ...}.  Imported by OVS.dump_flows when a run
reads flows."""

from __future__ import annotations

# Fields of a dump-flows line that are not part of the match.
_FLOW_META = frozenset((
    "cookie", "duration", "table", "n_packets", "n_bytes", "idle_age", "hard_age",
    "idle_timeout", "hard_timeout", "importance", "priority", "send_flow_rem",
    "reset_counts", "no_packet_counts", "no_byte_counts", "check_overlap",
))
_INT_META = frozenset(("table", "n_packets", "n_bytes", "idle_age", "hard_age", "idle_timeout",
                       "hard_timeout", "importance", "priority"))


def parse_flow(line):
    """One dump-flows line -> {cookie, table, priority, match, match_fields, actions, ...}."""
    line = line.strip()
    if not line or "actions=" not in line or line.startswith(("NXST_FLOW", "OFPST_FLOW")):
        return None
    idx = line.find(" actions=")
    if idx < 0:
        idx = line.find("actions=")
        head, actions = line[:idx], line[idx + len("actions="):]
    else:
        head, actions = line[:idx], line[idx + len(" actions="):]
    flow = dict(cookie=0, table=0, priority=32768, match="", match_fields={}, actions=actions.strip())
    match = []
    for token in head.replace(", ", ",").split(","):
        token = token.strip()
        if not token:
            continue
        key, sep, value = token.partition("=")
        if sep and key in _FLOW_META:
            if key == "cookie":
                flow["cookie"] = int(value, 16) if value.startswith("0x") else int(value)
            elif key in _INT_META:
                try:
                    flow[key] = int(value)
                except ValueError:
                    flow[key] = value
            elif key == "duration":
                flow[key] = float(value.rstrip("s"))
            else:
                flow[key] = value
            continue
        match.append(token)
        flow["match_fields"][key] = value if sep else True
    flow["match"] = ",".join(match)
    return flow


def parse_flows(text):
    flows = []
    for line in text.splitlines():
        flow = parse_flow(line)
        if flow is not None:
            flows.append(flow)
    return flows

# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Open vSwitch's database through ``ovs-vsctl``, and the runner every OVS and tc command goes through.

Reads use ``ovs-vsctl --format=json`` (never the human output); every change to OVSDB is one
``ovs-vsctl`` transaction (``--id=@x create ...`` chains).  Everything goes through a
``run_command(argv, **kwargs) -> (rc, stdout, stderr)`` callable (``AnsibleModule.run_command``)
so that it is testable with a fake.

The flow and tc text formats live in openflow.py and tc.py, imported only by the runs that dump
flows or read tc classes, and the transaction builder in ovsdb_transaction.py, imported by the runs
that change OVSDB: a module's start-up compiles each module_util it imports from the AnsiballZ zip on
every run, so a no-change OVSDB run loads only this file.

Public API:
  OVSError                      NovaopsError with ovs_error={command, rc, stderr}
  check_device_name(name)       a bridge, port or interface name the kernel accepts
  decode_value(v), decode_table(text)  OVSDB JSON -> python (uuid str, list, dict, scalar)
  quote_arg(v)                  a value quoted for an ovs-vsctl argument
  as_list(v) / as_one(v)        normalise a set column (OVSDB prints a 1-element set bare)
  OVS(run_command, ...)         reads: list, list_many, find, get_row, bridge, port, interface,
                                list_bridges, port_bridge, queues_of_qos;
                                writes: transaction() (a Transaction of ovsdb_transaction.py),
                                transact(commands);
                                flows: dump_flows, apply_flows; tc: tc_classes
"""

from __future__ import annotations

import json
import re

from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError


# The kernel's rule for a network device name (dev_valid_name): ports, interfaces and bridges
# are netdevs here.  A leading '-' is refused too: the name goes on ovs-vsctl's, ip's and tc's
# command lines.
DEVICE_NAME_MAX = 15


def check_device_name(name, what="port"):
    """A NovaopsError unless ``name`` can name a network device (1-15 bytes, no '/', ':', space)."""
    if not name or len(name.encode("utf-8")) > DEVICE_NAME_MAX or name in (".", "..") or name.startswith("-") \
            or any(char in "/:" or char.isspace() or not char.isprintable() for char in name):
        raise NovaopsError("%r is not a valid %s name: a network device name has 1 to %d bytes, no '/', ':' or "
                           "white space, and does not start with '-'." % (name[:40], what, DEVICE_NAME_MAX))
    return name


class OVSError(NovaopsError):
    """A failed ovs-vsctl / ovs-ofctl / tc command; ovs_error carries command, rc and stderr."""

    def __init__(self, msg, command=None, rc=None, stderr=None, **facts):
        if command is not None:
            facts.setdefault("ovs_error", dict(command=list(command), rc=rc, stderr=(stderr or "").strip()))
        super().__init__(msg, **facts)


# ---- OVSDB JSON ------------------------------------------------------------------------

def decode_value(value):
    """Decode one OVSDB JSON cell: ["uuid", u] -> u, ["set", [...]] -> list, ["map", ...] -> dict."""
    if isinstance(value, list) and len(value) == 2 and isinstance(value[0], str):
        kind, payload = value
        if kind in ("uuid", "named-uuid"):
            return payload
        if kind == "set":
            return [decode_value(v) for v in payload]
        if kind == "map":
            return dict((decode_value(k), decode_value(v)) for k, v in payload)
    return value


def as_list(value):
    """A set column as a list: OVSDB prints a one-element set as the bare element."""
    if value is None:
        return []
    if isinstance(value, list):
        return value
    return [value]


def as_one(value):
    """An optional (0 or 1 element) column as the element or None."""
    items = as_list(value)
    return items[0] if items else None


def decode_table(text):
    """ovs-vsctl --format=json output -> list of row dicts (column -> decoded value)."""
    if not text.strip():
        return []
    doc = json.loads(text)
    headings = doc.get("headings", [])
    return [dict(zip(headings, [decode_value(cell) for cell in row])) for row in doc.get("data", [])]


def quote_arg(value):
    """Quote a value for an ovs-vsctl column argument (strings with odd characters)."""
    text = str(value)
    if re.match(r"^[A-Za-z0-9_.@/-]+$", text):
        return text
    return json.dumps(text)


# ---- the tools ---------------------------------------------------------------------------

class OVS:
    """ovs-vsctl / ovs-ofctl / tc through one run_command(argv) callable."""

    def __init__(self, run_command, vsctl="ovs-vsctl", ofctl="ovs-ofctl", tc="tc", timeout=10, db=None):
        self._run_command = run_command
        self.vsctl_cmd = vsctl
        self.ofctl_cmd = ofctl
        self.tc_cmd = tc
        self.timeout = timeout
        self.db = db
        self.calls = []  # argv of every command run (tests and benchmarks count them)

    @classmethod
    def from_module(cls, module, **kwargs):
        """Tools found on the managed node's PATH (and /usr/sbin), failing clearly when missing."""
        def find(name, required=True):
            path = module.get_bin_path(name, opt_dirs=["/usr/sbin", "/sbin", "/usr/local/sbin"])
            if path is None and required:
                raise OVSError("The command %s was not found on this host; is Open vSwitch installed?" % name)
            return path or name
        return cls(module.run_command, vsctl=find("ovs-vsctl"), ofctl=find("ovs-ofctl"),
                   tc=find("tc", required=False), **kwargs)

    # -- running ----------------------------------------------------------------------------
    def run(self, argv, check=True, data=None, what=None):
        argv = [str(a) for a in argv]
        self.calls.append(argv)
        kwargs = {}
        if data is not None:
            kwargs["data"] = data
        rc, out, err = self._run_command(argv, **kwargs)
        if check and rc != 0:
            raise OVSError("%s failed (rc=%s): %s" % (what or " ".join(argv[:3]), rc, (err or out or "").strip()),
                           command=argv, rc=rc, stderr=err)
        return rc, out, err

    def _vsctl_base(self):
        argv = [self.vsctl_cmd]
        if self.db:
            argv.append("--db=%s" % self.db)
        argv.append("--timeout=%d" % self.timeout)
        return argv

    def vsctl(self, *args, **kwargs):
        return self.run(self._vsctl_base() + list(args), **kwargs)

    # -- OVSDB reads ------------------------------------------------------------------------
    def list(self, table, record=None, columns=None):
        """Rows of a table (all, or the one named record). Missing record -> []."""
        argv = self._vsctl_base() + ["--format=json", "--data=json"]
        if columns:
            argv.append("--columns=%s" % ",".join(["_uuid"] + [c for c in columns if c != "_uuid"]))
        argv += ["list", table]
        if record is not None:
            argv.insert(len(self._vsctl_base()), "--if-exists")
            argv.append(str(record))
        rc, out, err = self.run(argv, what="ovs-vsctl list %s" % table)
        return decode_table(out)

    def list_many(self, queries):
        """Several list commands in one ovs-vsctl call (one consistent snapshot).

        queries: [(table, record or None, columns or None)]; returns one row list per query
        ([] for a missing record).
        """
        argv = self._vsctl_base() + ["--format=json", "--data=json"]
        for query in queries:
            table, record, columns = (tuple(query) + (None, None))[:3]
            argv.append("--")
            if record is not None:
                argv.append("--if-exists")
            if columns:
                argv.append("--columns=%s" % ",".join(["_uuid"] + [c for c in columns if c != "_uuid"]))
            argv += ["list", table]
            if record is not None:
                argv.append(str(record))
        rc, out, err = self.run(argv, what="ovs-vsctl list")
        docs = [line for line in out.splitlines() if line.strip()]
        if len(docs) != len(queries):
            raise OVSError("ovs-vsctl answered %d tables for %d queries." % (len(docs), len(queries)),
                           command=argv, rc=rc, stderr=err)
        return [decode_table(doc) for doc in docs]

    def find(self, table, *conditions, **kwargs):
        """Rows matching conditions ('name=x', 'external_ids:iface-id="y"', or (col, op, value))."""
        columns = kwargs.get("columns")
        argv = self._vsctl_base() + ["--format=json", "--data=json"]
        if columns:
            argv.append("--columns=%s" % ",".join(["_uuid"] + [c for c in columns if c != "_uuid"]))
        argv += ["find", table]
        for cond in conditions:
            if isinstance(cond, (tuple, list)):
                column, op, value = cond
                key = None
                if ":" in column:
                    column, key = column.split(":", 1)
                cond = "%s%s%s%s" % (column, ":" + quote_arg(key) if key else "", op, quote_arg(value))
            argv.append(cond)
        rc, out, err = self.run(argv, what="ovs-vsctl find %s" % table)
        return decode_table(out)

    def get_row(self, table, record, columns=None):
        """One row by name or uuid, or None when there is no such row."""
        rows = self.list(table, record, columns=columns)
        return rows[0] if rows else None

    def bridge(self, name):
        return self.get_row("Bridge", name)

    def port(self, name):
        return self.get_row("Port", name)

    def interface(self, name):
        return self.get_row("Interface", name)

    def list_bridges(self):
        rc, out, err = self.vsctl("list-br")
        return [line.strip() for line in out.splitlines() if line.strip()]

    def port_bridge(self, port):
        """The bridge a port is on, or None when the port does not exist."""
        prow = self.get_row("Port", port, columns=["name"])
        if prow is None:
            return None
        for brow in self.list("Bridge", columns=["name", "ports"]):
            if prow["_uuid"] in as_list(brow.get("ports")):
                return brow["name"]
        return None

    def queues_of_qos(self, qos_row):
        """{queue_id(int): queue row} of a QoS row."""
        if not qos_row:
            return {}
        mapping = qos_row.get("queues") or {}
        if not mapping:
            return {}
        rows = dict((r["_uuid"], r) for r in self.list("Queue"))
        return dict((int(qid), rows.get(uuid, {"_uuid": uuid})) for qid, uuid in mapping.items())

    # -- OVSDB writes -----------------------------------------------------------------------
    def transaction(self):
        """A Transaction of this OVS (ovsdb_transaction.py: a run that changes nothing never compiles it)."""
        from ansible_collections.novaops.compute.plugins.module_utils.ovs.ovsdb_transaction import Transaction
        return Transaction(self)

    def transact(self, commands):
        """Run several ovs-vsctl commands (lists of words) as one transaction."""
        argv = self._vsctl_base()
        for command in commands:
            argv.append("--")
            argv.extend(str(c) for c in command)
        rc, out, err = self.run(argv, what="ovs-vsctl transaction")
        return out

    # -- flows ------------------------------------------------------------------------------
    def dump_flows(self, bridge, selector=None):
        """Flows of a bridge, optionally those matching a selector ('cookie=0x1/-1', 'table=0')."""
        argv = [self.ofctl_cmd, "-O", "OpenFlow14", "--no-names", "dump-flows", bridge]
        if selector:
            argv.append(selector)
        rc, out, err = self.run(argv, what="ovs-ofctl dump-flows %s" % bridge)
        from ansible_collections.novaops.compute.plugins.module_utils.ovs.flow_dump import parse_flows
        return parse_flows(out)

    def apply_flows(self, bridge, delete=(), add=()):
        """Delete (selectors) then add (flow specs), atomically in one OpenFlow 1.4 bundle."""
        lines = ["delete %s" % sel for sel in delete] + ["add %s" % spec for spec in add]
        if not lines:
            return
        self.run([self.ofctl_cmd, "-O", "OpenFlow14", "--bundle", "add-flows", bridge, "-"],
                 data="\n".join(lines), what="ovs-ofctl add-flows %s" % bridge)

    # -- tc ---------------------------------------------------------------------------------
    def tc_classes(self, dev):
        """tc classes of a device, [] when the device has none (or tc cannot see it)."""
        rc, out, err = self.run([self.tc_cmd, "class", "show", "dev", dev], check=False)
        if rc != 0:
            return []
        from ansible_collections.novaops.compute.plugins.module_utils.ovs.tc_show import parse_tc_classes
        return parse_tc_classes(out)

# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Open vSwitch and the kernel's tc, through their command line tools.

Reads of OVSDB use ``ovs-vsctl --format=json`` (never the human output); every change
to OVSDB is one ``ovs-vsctl`` transaction (``--id=@x create ...`` chains); flows are read
with ``ovs-ofctl dump-flows`` and changed in one atomic OpenFlow 1.4 bundle; ``tc class
show`` is parsed for what the kernel really enforces.

Everything goes through a ``run_command(argv, **kwargs) -> (rc, stdout, stderr)``
callable (``AnsibleModule.run_command``) so that it is testable with a fake.

Public API (stable):
  OVSError                      NovaopsError with ovs_error={command, rc, stderr}
  decode_value(v)               OVSDB JSON value -> python (uuid str, list, dict, scalar)
  as_list(v) / as_one(v)        normalise a set column (OVSDB prints a 1-element set bare)
  Transaction                   builder of one ovs-vsctl transaction
  OVS(run_command, ...)         reads: list, list_many, find, get_row, bridge, port, interface,
                                bridge_ports, port_bridge, port_exists, qos_of_port,
                                queues_of_qos;
                                writes: transaction(), transact(commands);
                                flows: dump_flows, apply_flows, delete_flows;
                                tc: tc_classes, tc_class
  parse_flows(text) / parse_flow(line)
  parse_tc_classes(text), parse_tc_rate(text)
  htb_class_id(queue_id)        '1:<hex(queue_id+1)>'
  cookie_mask(prefix32)         ('0x<prefix>00000000', '0xffffffff00000000')
  name_cookie_prefix(text)      a stable 32-bit number for a name (crc32)
"""

from __future__ import annotations

import json
import re
import zlib

from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError

# OVS queue ids are 32-bit.  linux-htb and linux-hfsc map queue id q to the kernel class
# 1:<hex(q+1)>; the class minor is 16 bits, 1:fffe is OVS's own root class, and OVS accepts
# only 0xf000 queues on those types (HTB_N_QUEUES / HFSC_N_QUEUES in netdev-linux.c), so
# the ids it really configures are 0..61439.
QUEUE_ID_MAX = 4294967295
KERNEL_QUEUE_ID_MAX = 0xf000 - 1
KERNEL_QOS_TYPES = ("linux-htb", "linux-hfsc")

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


# Fields of a dump-flows line that are not part of the match.
_FLOW_META = frozenset((
    "cookie", "duration", "table", "n_packets", "n_bytes", "idle_age", "hard_age",
    "idle_timeout", "hard_timeout", "importance", "priority", "send_flow_rem",
    "reset_counts", "no_packet_counts", "no_byte_counts", "check_overlap",
))
_INT_META = frozenset(("table", "n_packets", "n_bytes", "idle_age", "hard_age", "idle_timeout",
                       "hard_timeout", "importance", "priority"))


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


def _quote(value):
    """Quote a value for an ovs-vsctl column argument (strings with odd characters)."""
    text = str(value)
    if re.match(r"^[A-Za-z0-9_.@/-]+$", text):
        return text
    return json.dumps(text)


def column_arg(column, value, key=None):
    """'column=value' or 'column:key=value' with the value quoted for ovs-vsctl."""
    if key is None:
        return "%s=%s" % (column, value)
    return "%s:%s=%s" % (column, _quote(key), _quote(value))


class Transaction:
    """One ovs-vsctl transaction: commands joined with '--', run in one call.

        txn = ovs.transaction()
        q = txn.create("queue", other_config={"max-rate": "614400000"})
        txn.command("set", "qos", qos_uuid, "queues:13947=%s" % q)
        txn.commit()
    """

    def __init__(self, ovs):
        self.ovs = ovs
        self.commands = []
        self._ids = 0

    def __bool__(self):
        return bool(self.commands)

    def __len__(self):
        return len(self.commands)

    def command(self, *args):
        self.commands.append([str(a) for a in args])
        return self

    def create(self, table, name=None, **columns):
        """--id=@name create table col=value ... ; map columns given as dicts. Returns '@name'."""
        if name is None:
            self._ids += 1
            name = "%s%d" % (table.lower(), self._ids)
        argv = ["--id=@%s" % name, "create", table]
        argv.extend(self._column_args(columns))
        self.commands.append(argv)
        return "@%s" % name

    def set(self, table, record, **columns):
        if columns:
            self.commands.append(["set", table, str(record)] + self._column_args(columns))
        return self

    def clear(self, table, record, *columns):
        self.commands.append(["clear", table, str(record)] + list(columns))
        return self

    def remove(self, table, record, column, *values):
        self.commands.append(["remove", table, str(record), column] + [str(v) for v in values])
        return self

    def destroy(self, table, *records):
        for record in records:
            self.commands.append(["destroy", table, str(record)])
        return self

    @staticmethod
    def _column_args(columns):
        args = []
        for column, value in columns.items():
            if isinstance(value, dict):
                for key, item in value.items():
                    args.append(column_arg(column, item, key))
            elif isinstance(value, (list, tuple)):
                args.append("%s=[%s]" % (column, ",".join(str(v) for v in value)))
            else:
                args.append(column_arg(column, value))
        return args

    def argv(self):
        argv = []
        for command in self.commands:
            argv.append("--")
            argv.extend(command)
        return argv

    def commit(self):
        """Run the whole transaction; nothing at all when empty."""
        if not self.commands:
            return ""
        return self.ovs.transact(self.commands)


# ---- flows -------------------------------------------------------------------------------

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


# ---- tc ----------------------------------------------------------------------------------

_RATE_UNITS = {
    "bit": 1, "kbit": 1000, "mbit": 1000 ** 2, "gbit": 1000 ** 3, "tbit": 1000 ** 4,
    "kibit": 1024, "mibit": 1024 ** 2, "gibit": 1024 ** 3, "tibit": 1024 ** 4,
    "bps": 8, "kbps": 8000, "mbps": 8 * 1000 ** 2, "gbps": 8 * 1000 ** 3, "tbps": 8 * 1000 ** 4,
}


def parse_tc_rate(text):
    """'614400Kbit' -> 614400000 (bits per second); None when not a rate."""
    match = re.match(r"^([0-9.]+)([A-Za-z]*)$", text or "")
    if not match:
        return None
    unit = match.group(2).lower() or "bit"
    if unit not in _RATE_UNITS:
        return None
    return int(round(float(match.group(1)) * _RATE_UNITS[unit]))


def parse_tc_classes(text):
    """tc class show output -> [{classid, kind, parent, root, prio, rate, ceil, rate_text, ...}]."""
    classes = []
    for line in text.splitlines():
        words = line.split()
        if len(words) < 3 or words[0] != "class":
            continue
        entry = dict(kind=words[1], classid=words[2], parent=None, root=False, prio=None,
                     rate=None, ceil=None, rate_text=None, ceil_text=None, burst=None, cburst=None)
        i = 3
        while i < len(words):
            word = words[i]
            nxt = words[i + 1] if i + 1 < len(words) else None
            if word == "root":
                entry["root"] = True
                i += 1
                continue
            if word in ("parent", "prio", "rate", "ceil", "burst", "cburst", "leaf", "quantum", "level") and nxt is not None:
                if word in ("rate", "ceil"):
                    entry[word + "_text"] = nxt
                    entry[word] = parse_tc_rate(nxt)
                elif word == "prio":
                    entry[word] = int(nxt) if nxt.isdigit() else nxt
                else:
                    entry[word] = nxt
                i += 2
                continue
            i += 1
        classes.append(entry)
    return classes


def htb_class_id(queue_id):
    """The kernel class OVS's linux-htb / linux-hfsc makes for a queue: 1:<hex(queue_id+1)>."""
    return "1:%x" % (int(queue_id) + 1)


# ---- the tools ---------------------------------------------------------------------------

class OVS:
    """ovs-vsctl / ovs-ofctl / ovs-appctl / tc through one run_command(argv) callable."""

    def __init__(self, run_command, vsctl="ovs-vsctl", ofctl="ovs-ofctl", appctl="ovs-appctl",
                 tc="tc", timeout=10, db=None):
        self._run_command = run_command
        self.vsctl_cmd = vsctl
        self.ofctl_cmd = ofctl
        self.appctl_cmd = appctl
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
                   appctl=find("ovs-appctl", required=False), tc=find("tc", required=False), **kwargs)

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
                cond = "%s%s%s%s" % (column, ":" + _quote(key) if key else "", op, _quote(value))
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

    def bridge_ports(self, bridge):
        """Names of a bridge's ports (not the bridge's own internal port); error if no bridge."""
        row = self.get_row("Bridge", bridge, columns=["name", "ports"])
        if row is None:
            raise OVSError("There is no Open vSwitch bridge named %s." % bridge)
        uuids = set(as_list(row.get("ports")))
        names = [p["name"] for p in self.list("Port", columns=["name"]) if p["_uuid"] in uuids]
        return sorted(n for n in names if n != bridge)

    def bridge_ofports(self, bridge):
        """The OpenFlow port numbers of a bridge's interfaces (its own included)."""
        row = self.get_row("Bridge", bridge, columns=["name", "ports"])
        if row is None:
            raise OVSError("There is no Open vSwitch bridge named %s." % bridge)
        ports = set(as_list(row.get("ports")))
        interfaces = set()
        for prow in self.list("Port", columns=["interfaces"]):
            if prow["_uuid"] in ports:
                interfaces.update(as_list(prow.get("interfaces")))
        ofports = set()
        for irow in self.list("Interface", columns=["ofport"]):
            ofport = as_one(irow.get("ofport"))
            if irow["_uuid"] in interfaces and isinstance(ofport, int) and ofport > 0:
                ofports.add(ofport)
        return ofports

    def port_bridge(self, port):
        """The bridge a port is on, or None when the port does not exist."""
        prow = self.get_row("Port", port, columns=["name"])
        if prow is None:
            return None
        for brow in self.list("Bridge", columns=["name", "ports"]):
            if prow["_uuid"] in as_list(brow.get("ports")):
                return brow["name"]
        return None

    def port_exists(self, port, bridge=None):
        """Whether a port exists (on the given bridge, when one is given)."""
        owner = self.port_bridge(port)
        if owner is None:
            return False
        return bridge is None or owner == bridge

    def qos_of_port(self, port):
        """(port row, qos row or None); OVSError when the port does not exist."""
        prow = self.port(port)
        if prow is None:
            raise OVSError("There is no Open vSwitch port named %s." % port)
        qos_uuid = as_one(prow.get("qos"))
        qrow = self.get_row("QoS", qos_uuid) if qos_uuid else None
        return prow, qrow

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
        return parse_flows(out)

    def apply_flows(self, bridge, delete=(), add=()):
        """Delete (selectors) then add (flow specs), atomically in one OpenFlow 1.4 bundle."""
        lines = ["delete %s" % sel for sel in delete] + ["add %s" % spec for spec in add]
        if not lines:
            return
        self.run([self.ofctl_cmd, "-O", "OpenFlow14", "--bundle", "add-flows", bridge, "-"],
                 data="\n".join(lines), what="ovs-ofctl add-flows %s" % bridge)

    def delete_flows(self, bridge, selectors):
        self.apply_flows(bridge, delete=selectors)

    def trace(self, bridge, flow):
        rc, out, err = self.run([self.appctl_cmd, "ofproto/trace", bridge, flow], what="ovs-appctl ofproto/trace")
        return out

    # -- tc ---------------------------------------------------------------------------------
    def tc_classes(self, dev):
        """tc classes of a device, [] when the device has none (or tc cannot see it)."""
        rc, out, err = self.run([self.tc_cmd, "class", "show", "dev", dev], check=False)
        if rc != 0:
            return []
        return parse_tc_classes(out)

    def tc_class(self, dev, classid):
        for entry in self.tc_classes(dev):
            if entry["classid"] == classid:
                return entry
        return None

# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The builder of one ``ovs-vsctl`` transaction (OVS.transaction() makes one).

Apart from ovsdb.py because only a run that changes OVSDB needs it: the module_utils a module
imports are compiled from the AnsiballZ zip on every run.
"""

from __future__ import annotations

from ansible_collections.novaops.compute.plugins.module_utils.ovs.ovsdb import quote_arg


def column_arg(column, value, key=None):
    """'column=value' or 'column:key=value' with the value quoted for ovs-vsctl."""
    if key is None:
        return "%s=%s" % (column, value)
    return "%s:%s=%s" % (column, quote_arg(key), quote_arg(value))


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

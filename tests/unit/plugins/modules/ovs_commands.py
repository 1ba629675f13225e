# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A scripted ``run_command`` for ovs/cli.py's OVS: it records every command and answers as a test scripts it."""

from __future__ import annotations

import json

READS = ("list", "dump-flows", "list-br")


def table(headings, rows):
    """One table as ``ovs-vsctl --format=json list`` prints it."""
    return json.dumps({"headings": headings, "data": rows})


class OVSCommands:
    """Answers ``answer(argv)`` (default: success, no output) and keeps ``calls``; ``writes`` are the calls
    that are not reads."""

    def __init__(self):
        self.calls = []

    def __call__(self, argv, **kwargs):
        self.calls.append(argv)
        return self.answer(argv)

    def answer(self, argv):
        return 0, "", ""

    def list_answers(self, argv, table_of):
        """(rc, out, err) of an ``ovs-vsctl`` call: one JSON table per ``list`` command in it, from
        ``table_of(table_name, record_args)``."""
        answers = [table_of(argv[at + 1], argv[at + 2:at + 3]) for at, word in enumerate(argv) if word == "list"]
        return 0, "\n".join(answers), ""

    @property
    def writes(self):
        return [a for a in self.calls if not any(word in a for word in READS)]

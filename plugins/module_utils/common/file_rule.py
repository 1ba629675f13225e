# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The input rule of an option that names a file read whole: PLAIN_FILE (see input_rules.py).

Apart from input_rules.py because it needs confined.py: AnsiballZ ships every module_util a module
imports, even inside a function, and the controller parses each one when it builds the payload; a module
with no file option (most) does not ship it.
"""

from __future__ import annotations

import os

from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError
from ansible_collections.novaops.compute.plugins.module_utils.common.input_rules import Rule


class PlainFile(Rule):
    """A file read whole (an ssh key, a known_hosts list, a CA bundle): an absolute path and, where it
    exists, a regular file with one hard link reached without a symbolic link.

    A device or a FIFO named there would block the read for ever, a directory fail in a way that names
    nothing, and a link - planted in a directory others can write - would make this root process read
    a file it was not given.  A missing file is the module's to report, with its own words.
    """

    def problem(self, label, value, level):
        if not isinstance(value, str) or not value:
            return None
        if not os.path.isabs(value):
            return "%s %s is not an absolute path." % (label, value)
        # imported here: a module's code is compiled again on each run (AnsiballZ imports from a zip,
        # without .pyc files), and most runs give no file
        from ansible_collections.novaops.compute.plugins.module_utils.common.confined import check_plain_file
        try:
            check_plain_file(value, label, missing_ok=True)
        except NovaopsError as exc:
            return exc.msg
        return None


PLAIN_FILE = PlainFile()

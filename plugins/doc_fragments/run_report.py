# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    # the files of a fleet run's report (plugin_utils.report_files.REPORT_ARGS), what check and diff mode do, where
    # it runs and what it reads: fleet_repair_report, evacuate_report
    DOCUMENTATION = r'''
attributes:
  check_mode:
    support: full
    description: The report is written in check mode too; it says the run was a check.
  diff_mode:
    support: none
    description: There is nothing to compare.
options:
  dir:
    description: The directory of the report files (made if missing).
    type: path
    required: true
  run_id:
    description: The name of the run, part of the file names.
    type: str
    required: true
  started:
    description: When the run started.
    type: str
  finished:
    description: When it finished; default, with O(final=true), the time this task runs (UTC, C(YYYY-MM-DDTHH:MM:SSZ)).
    type: str
  final:
    description: The end of the run (else a report of the batches done so far).
    type: bool
    default: true
notes:
  - Runs on the controller (an action plugin); it never changes the fleet and always reports C(changed=false).
  - Every value in the report's HTML page is HTML-escaped.
seealso:
  - plugin: novaops.compute.libvirt
    plugin_type: inventory
  - plugin: novaops.compute.xenapi
    plugin_type: inventory
'''

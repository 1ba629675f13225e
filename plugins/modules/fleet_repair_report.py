#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r'''
module: fleet_repair_report
short_description: Write the fleet repair report (JSON and HTML) on the controller
version_added: 0.1.0
description:
  - Assembles what playbook C(novaops.compute.fleet_repair) repaired, what failed and why, what it skipped (busy or
    rescued instances with findings) and what it has not reached yet, from the host variables of the inventory
    plugins P(novaops.compute.libvirt#inventory) and P(novaops.compute.xenapi#inventory) and the
    C(fleet_repair_outcome) fact of each repaired host.
  - Writes it as C(<dir>/fleet_repair-<run_id>.json) and C(.html), and with O(final=true) also as
    C(fleet_repair-latest.json) and C(.html).
author: novaops.compute maintainers (@novaops)
extends_documentation_fragment:
  - novaops.compute.run_report
options:
  found:
    description: The hosts that were in C(needs_repair) when the run started.
    type: list
    elements: str
    default: []
  skipped:
    description: The busy and rescued hosts; those with findings are listed as skipped.
    type: list
    elements: str
    default: []
  still_broken:
    description:
      - The hosts in C(needs_repair) after the run's fresh read of the inventory; each repaired host is marked
        C(verified) unless it is in this list.
      - Read only at the end of the run (O(final=true)), with O(verify=true), and not in check mode (nothing was
        repaired); otherwise the report has no C(still_broken).
    type: list
    elements: str
  verify:
    description: Whether the run read the inventory again before this report (C(false) under AWX, whose jobs run on
      the last synced inventory); without it O(still_broken) is not read.
    type: bool
    default: true
  unreachable:
    description: Sources the inventory skipped (C(novaops_unreachable_libvirt), C(novaops_unreachable_xenapi)).
    type: list
    elements: dict
    default: []
'''

EXAMPLES = r'''
- name: The report of this run
  novaops.compute.fleet_repair_report:
    found: "{{ fleet_repair_found }}"
    skipped: "{{ groups['busy'] + groups['rescued'] }}"
    still_broken: "{{ groups['needs_repair'] }}"
    dir: /var/lib/novaops/reports
    run_id: "{{ now(utc=true, fmt='%Y%m%dT%H%M%SZ') }}"
  delegate_to: localhost
  run_once: true
'''

RETURN = r'''
report:
  description:
    - The report - C(version), C(run_id), C(started), C(finished), C(final), C(check_mode), the lists C(repaired),
      C(failed) (with C(msg)), C(pending), C(skipped) (with C(why) and C(task)), C(still_broken), C(unreachable),
      and C(summary) with their counts and C(ok).
  returned: always
  type: dict
  sample:
    summary: {found: 2, repaired: 2, failed: 0, pending: 0, skipped: 1, still_broken: 0, ok: true}
files:
  description: The files written for this run.
  returned: always
  type: dict
  sample: {json: /tmp/novaops-fleet-repair/fleet_repair-20260101T000000Z.json, html: /tmp/novaops-fleet-repair/fleet_repair-20260101T000000Z.html}
shown:
  description:
    - What the playbook prints - C(summary), a map host -> reasons of C(repaired), a map host -> msg of C(failed), a map host -> why
      of C(skipped), C(still_broken) as the report has it, and C(files).
  returned: always
  type: dict
stats:
  description:
    - What the playbook hands the job (C(set_stats), shown by AWX) - C(fleet_repair) (the summary with C(report_json) and
      C(report_html)), C(fleet_repair_repaired) and C(fleet_repair_failed) (their hosts).
  returned: always
  type: dict
left:
  description: The hosts that failed or were not reached.
  returned: always
  type: list
  elements: str
'''

#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r'''
module: evacuate_report
short_description: Write the evacuation report (JSON and HTML) on the controller
version_added: 0.2.0
description:
  - Assembles what playbook C(novaops.compute.evacuate) moved off a hypervisor (where to, how, how long each move
    took, the downtime libvirt reported), what did not move and why, what it skipped (instances an operation lock
    holds, with the operation) and what it has not reached yet, from the host variables of the inventory plugins
    P(novaops.compute.libvirt#inventory) and P(novaops.compute.xenapi#inventory) and the C(evacuate_outcome) fact
    of each instance the run reached.
  - Writes it as C(<dir>/evacuate-<run_id>.json) and C(.html), and with O(final=true) also as
    C(evacuate-latest.json) and C(.html).
author: novaops.compute maintainers (@novaops)
extends_documentation_fragment:
  - novaops.compute.run_report
options:
  hypervisors:
    description: The hypervisors being emptied (as the inventory plugins name them, C(novaops_hypervisor)).
    type: list
    elements: str
    required: true
  found:
    description: Its running instances the run is to move.
    type: list
    elements: str
    default: []
  skipped:
    description: Its instances an operation lock holds (the C(busy) group), listed as skipped with the operation.
    type: list
    elements: str
    default: []
  cold_fallback:
    description: Whether the run was asked to cold-migrate what could not move live (shown in the report).
    type: bool
    default: false
seealso:
  - module: novaops.compute.fleet_repair_report
'''

EXAMPLES = r'''
- name: The report of this run
  novaops.compute.evacuate_report:
    hypervisors: [hv1]
    found: "{{ evacuate_found }}"
    skipped: "{{ evacuate_skipped }}"
    dir: /var/lib/novaops/reports
    run_id: "{{ now(utc=true, fmt='%Y%m%dT%H%M%SZ') }}"
  delegate_to: localhost
  run_once: true
'''

RETURN = r'''
report:
  description:
    - The report - C(version), C(hypervisors), C(run_id), C(started), C(finished), C(final), C(check_mode),
      C(cold_fallback), the lists C(moved) (with C(source), C(dest), C(how), C(duration), C(downtime_ms), C(state)),
      C(failed) (with C(msg)), C(pending), C(skipped) (with C(why) and C(task)), and C(summary) with their counts,
      C(seconds_moving), C(longest), C(empty) (nothing left running there) and C(ok) (nothing failed or left).
  returned: always
  type: dict
  sample:
    summary: {found: 5, moved: 5, failed: 0, pending: 0, skipped: 1, seconds_moving: 21.4, longest: 6.2,
              empty: false, ok: true}
files:
  description: The files written for this run.
  returned: always
  type: dict
  sample: {json: /tmp/novaops-evacuate/evacuate-20260101T000000Z.json, html: /tmp/novaops-evacuate/evacuate-20260101T000000Z.html}
shown:
  description:
    - What the playbook prints - C(summary), a map host -> dest of C(moved), a map host -> msg of C(failed), a map host -> why
      of C(skipped), and C(files).
  returned: always
  type: dict
stats:
  description:
    - What the playbook hands the job (C(set_stats), shown by AWX) - C(evacuate) (the summary with C(report_json) and
      C(report_html)), C(evacuate_moved) and C(evacuate_failed) (their hosts).
  returned: always
  type: dict
left:
  description: The hosts that failed or were not reached.
  returned: always
  type: list
  elements: str
'''

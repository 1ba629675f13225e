# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import json

from ansible_collections.novaops.compute.plugins.module_utils.common import operation_lock as lock

MARK = dict(operation="resize", owner="awx-job-41", started_at="2026-03-01T10:00:00Z")


def test_xenapi_mark_is_read_from_other_config():
    found = lock.from_other_config({lock.XENAPI_KEY: json.dumps(MARK), "other": "x"})
    assert found == dict(MARK, source="other_config")


def test_no_mark_is_no_lock():
    assert lock.from_other_config({}) is None
    assert lock.from_other_config(None) is None
    assert lock.from_other_config({lock.XENAPI_KEY: "  "}) is None


def test_an_unparsable_mark_is_still_a_lock():
    for value in ("{not json", "[1, 2]", '"resize"'):
        found = lock.from_other_config({lock.XENAPI_KEY: value})
        assert found["operation"] == lock.UNKNOWN and found["owner"] is None


def test_libvirt_mark_is_read_from_the_task_namespace_only():
    xml = """<domain type='qemu'><name>a</name><metadata>
      <novaops:instance xmlns:novaops="https://novaops.example/compute/1"><novaops:state>running</novaops:state>
      </novaops:instance>
      <t:task xmlns:t="https://novaops.example/compute/1/task" operation="snapshot" owner="me" started_at="1"/>
      </metadata></domain>"""
    assert lock.from_domain_xml(xml) == dict(operation="snapshot", owner="me", started_at="1", source="metadata")
    other_ns = xml.replace("compute/1/task", "compute/2/task")
    assert lock.from_domain_xml(other_ns) is None
    assert lock.from_domain_xml("<domain><name>a</name></domain>") is None
    assert lock.from_domain_xml("not xml") is None


def test_lock_file():
    assert lock.lock_file_path("/srv/inst/u1") == "/srv/inst/u1/" + lock.LOCK_FILE
    assert lock.from_lock_file(False) is None
    assert lock.from_lock_file(True)["operation"] == lock.UNKNOWN
    assert lock.from_lock_file(True, json.dumps(MARK))["owner"] == "awx-job-41"

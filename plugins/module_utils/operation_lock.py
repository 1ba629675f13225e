# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The operation lock of an instance (Nova's ``task_state``): where it lives and how to read it.

An operation in progress marks its instance, so that a second one (or fleet repair) leaves it
alone:

- XenAPI: ``VM.other_config[XENAPI_KEY]`` holds JSON ``{"operation", "owner", "started_at"}``;
- libvirt: a ``<task operation= owner= started_at=/>`` element in the domain's ``<metadata>``
  under LIBVIRT_NAMESPACE, plus the file LOCK_FILE in the instance directory (it outlives
  an undefined domain and is what concurrent processes lock on the hypervisor).

Only the names and the readers are here; taking and releasing the lock belongs to the
operations (issue #13).  A mark that cannot be parsed still counts as a lock: an unknown
operation is in progress, not none.
"""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET

XENAPI_KEY = "novaops_task_state"
LIBVIRT_NAMESPACE = "https://novaops.example/compute/1/task"
LIBVIRT_PREFIX = "novaopstask"
LIBVIRT_ELEMENT = "task"
LOCK_FILE = "novaops-task.lock"
FIELDS = ("operation", "owner", "started_at")
UNKNOWN = "unknown"


def _task(values, source):
    task = dict((field, str(values.get(field)) if values.get(field) is not None else None) for field in FIELDS)
    if not task["operation"]:
        task["operation"] = UNKNOWN
    task["source"] = source
    return task


def parse_json(text, source):
    """The lock held in a JSON string (other_config value or lock file), or None when empty."""
    if text is None or not str(text).strip():
        return None
    try:
        values = json.loads(text)
    except ValueError:
        values = None
    if not isinstance(values, dict):
        return _task({}, source)
    return _task(values, source)


def from_other_config(other_config):
    """The lock of a XenServer VM from its ``other_config``, or None."""
    return parse_json((other_config or {}).get(XENAPI_KEY), "other_config")


def from_metadata(metadata):
    """The lock in a domain's ``<metadata>`` element (an ElementTree element or None), or None."""
    if metadata is None:
        return None
    element = metadata.find("{%s}%s" % (LIBVIRT_NAMESPACE, LIBVIRT_ELEMENT))
    if element is None:
        return None
    return _task(element.attrib, "metadata")


def from_domain_xml(xml):
    """The lock recorded in a domain's XML (a str), or None; XML that does not parse has none."""
    try:
        root = ET.fromstring(xml)
    except ET.ParseError:
        return None
    return from_metadata(root.find("metadata"))


def lock_file_path(instance_dir):
    return os.path.join(instance_dir, LOCK_FILE)


def from_lock_file(exists, text=None):
    """The lock a lock file stands for: its JSON when readable, else an unknown operation."""
    if not exists:
        return None
    return parse_json(text, "lock_file") or _task({}, "lock_file")

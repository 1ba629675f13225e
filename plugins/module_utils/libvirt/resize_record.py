# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The record of a resize in progress, kept beside the disks it is about.

``resize.json`` (where it goes, the prior power state, which files are copied, the phase)
and ``resize.xml`` (the domain's definition before the resize, for revert) are written
into the instance directory before anything moves, travel with it into ``<uuid>_resize``,
and come back with it on revert.  Where the record lies and its phase say how far a
resize got, so that every step can be resumed after a failure:

- ``<uuid>/resize.json``, phase ``migrating``: started; the directory has not moved yet.
- ``<uuid>_resize/resize.json``, ``migrating``: moved; copying to the destination.
- ``<uuid>_resize/resize.json``, ``migrated``: copied; awaiting confirm or revert.
- ``<uuid>/resize.json``, ``reverting``: moved back; the old definition and power state
  are being restored.

No record: no resize in progress (never started, confirmed, or reverted).
Both files are written whole (a temporary file renamed over) and readable by root only.
"""

from __future__ import annotations

import json
import os
import shutil

from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError

RECORD = "resize.json"
OLD_XML = "resize.xml"
MIGRATING = "migrating"
MIGRATED = "migrated"
REVERTING = "reverting"
PHASES = (MIGRATING, MIGRATED, REVERTING)
FORMAT = 1


def locate(idir):
    """``(directory, record)`` of the resize in progress of an InstanceDir, or ``(None, None)``.

    The ``_resize`` directory wins: while it exists, it holds the original.
    """
    for directory in (idir.resize_path, idir.path):
        if os.path.isdir(directory):
            record = read(directory)
            if record is not None:
                return directory, record
            if directory == idir.resize_path:
                raise NovaopsError("%s exists but holds no %s: it was not made by this module (a resize by Nova "
                                   "itself?). Finish or undo that resize first." % (directory, RECORD))
    return None, None


def refuse_during(idir, instance, operation):
    """Refuse ``operation`` on an instance whose resize is not over, as Nova's check_instance_state allowed
    only confirm and revert in vm_state RESIZED: run at the source, it would rebuild or start the original
    beside (or instead of) the copy at the destination.  Nothing is changed before this."""
    where, rec = locate(idir)
    if rec is None:
        return
    if rec["phase"] == MIGRATED:
        state, way = "resized and waits for confirm or revert (Nova's RESIZED)", "confirm or revert the resize first"
    elif rec["phase"] == REVERTING:
        state, way = "half way through a revert (recorded in %s)" % where, "finish the revert (revert again) first"
    else:
        state, way = "half way through a resize (recorded in %s)" % where, \
            "finish the resize (run it again) or revert it first"
    raise NovaopsError("%s is %s; %s is refused until then: %s. Nothing was changed." % (instance, state, operation, way),
                       resize_status=rec["phase"])


def read(directory):
    path = os.path.join(directory, RECORD)
    try:
        with open(path) as handle:
            record = json.load(handle)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise NovaopsError("The resize record %s cannot be read: %s" % (path, exc))
    if not isinstance(record, dict) or record.get("phase") not in PHASES:
        raise NovaopsError("The resize record %s is not one this module wrote." % path)
    return record


def write(directory, record):
    record = dict(record, format=FORMAT)
    _write_private(os.path.join(directory, RECORD), json.dumps(record, indent=1, sort_keys=True) + "\n")


def set_phase(directory, phase, **changes):
    record = read(directory)
    if record is None:
        raise NovaopsError("The resize record in %s vanished." % directory)
    record.update(changes, phase=phase)
    write(directory, record)
    return record


def mark_copied(directory, name, nbytes):
    record = read(directory)
    copied = dict(record.get("copied") or {})
    copied[name] = nbytes
    record["copied"] = copied
    write(directory, record)


def write_old_xml(directory, xml):
    _write_private(os.path.join(directory, OLD_XML), xml)


def read_old_xml(directory):
    path = os.path.join(directory, OLD_XML)
    try:
        with open(path) as handle:
            return handle.read()
    except OSError as exc:
        raise NovaopsError("The domain definition kept for revert, %s, cannot be read: %s" % (path, exc.strerror))


def remove(directory):
    """Drop the record and the kept definition: the resize is over."""
    for name in (RECORD, OLD_XML):
        path = os.path.join(directory, name)
        if os.path.exists(path):
            os.unlink(path)


def discard(directory):
    """Remove a directory holding a record, the record last: an interrupted removal is found again."""
    for name in os.listdir(directory):
        if name in (RECORD, OLD_XML):
            continue
        path = os.path.join(directory, name)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.unlink(path)
    remove(directory)
    os.rmdir(directory)


def _write_private(path, text):
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.rename(tmp, path)

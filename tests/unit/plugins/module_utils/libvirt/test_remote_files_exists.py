# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""remote_files.exists when the directory's pool is another run's transient one, ended under the look-up."""

from __future__ import annotations

import libvirt
import pytest

from ansible_collections.novaops.compute.plugins.module_utils.libvirt import remote_files

DIRECTORY = "/var/lib/nova/instances/6b1e5b2e-8f3a-4a8e-9f47-1c6f7f1f2a10"


def libvirt_error(code, message):
    exc = libvirt.libvirtError(message)
    exc.err = (code, 0, message, 0, None, None, None, -1, -1)
    return exc


class Pool:
    def __init__(self, files, ended=False):
        self.files, self.ended = files, ended

    def XMLDesc(self, _flags):   # noqa: N802 - libvirt's name
        return "<pool type='dir'><target><path>%s</path></target></pool>" % DIRECTORY

    def refresh(self, _flags):
        if self.ended:
            raise libvirt_error(libvirt.VIR_ERR_NO_STORAGE_POOL, "Storage pool not found: no storage pool with "
                                                                 "matching uuid")

    def storageVolLookupByName(self, name):   # noqa: N802
        if name not in self.files:
            raise libvirt_error(libvirt.VIR_ERR_NO_STORAGE_VOL, "Storage volume not found")
        return object()

    def destroy(self):
        self.ended = True


class Host:
    """A host whose directory has the file; its first look-up finds another run's pool, ended meanwhile."""

    def __init__(self, files, others=1):
        self.files, self.others = files, others
        self.created = 0

    def listAllStoragePools(self, _flags):   # noqa: N802
        if self.others:
            self.others -= 1
            return [Pool(self.files, ended=True)]
        return []

    def storagePoolCreateXML(self, _xml, _flags):   # noqa: N802
        self.created += 1
        return Pool(self.files)


def test_a_pool_ended_under_the_look_up_is_not_a_missing_file(monkeypatch):
    monkeypatch.setattr(remote_files.time, "sleep", lambda _s: None)
    host = Host({".novaops-shared-test"})
    assert remote_files.exists(host, DIRECTORY, ".novaops-shared-test") is True
    assert host.created == 1


def test_a_directory_never_readable_is_still_no_file(monkeypatch):
    monkeypatch.setattr(remote_files.time, "sleep", lambda _s: None)
    host = Host({".novaops-shared-test"}, others=5)
    assert remote_files.exists(host, DIRECTORY, ".novaops-shared-test") is False
    assert remote_files.exists(Host(set(), others=0), DIRECTORY, ".novaops-shared-test") is False


def test_another_libvirt_error_is_raised():
    class Denied(Host):
        def listAllStoragePools(self, _flags):   # noqa: N802
            raise libvirt_error(libvirt.VIR_ERR_AUTH_FAILED, "authentication failed")
    with pytest.raises(libvirt.libvirtError):
        remote_files.exists(Denied(set()), DIRECTORY, "x")

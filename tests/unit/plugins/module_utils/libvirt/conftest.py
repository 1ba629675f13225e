# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Fixtures of the libvirt module_utils tests: the real qemu-img (qemu-utils), run as the modules run it."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from ansible_collections.novaops.compute.plugins.module_utils.disks.diskops import QemuImg


def run(argv, **kwargs):
    """AnsibleModule.run_command's answer, without a module: (rc, stdout, stderr)."""
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    return proc.returncode, proc.stdout, proc.stderr


@pytest.fixture
def qimg():
    return QemuImg(run, prlimit=shutil.which("prlimit"))

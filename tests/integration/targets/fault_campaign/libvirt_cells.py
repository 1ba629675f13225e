# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The libvirt half of the fault campaign (to come): QEMU, libvirtd, ovsdb-server, Glance, sshd killed mid-step."""

from __future__ import annotations


def run(root, secrets):
    """The libvirt cells; returns the directory of its runs' output (for the secrets check), or None."""
    return None

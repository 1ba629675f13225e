#!/usr/bin/env bash
# The roles' playbooks on libvirt, end to end on libvirtd, QEMU, Open vSwitch, Glance and sshd.
set -euo pipefail
cd "$(dirname "$0")"
exec ../setup_compute_roles/files/with_beds.sh python roles_libvirt_test.py

#!/usr/bin/env bash
# The operation lock of every mutating module (lock_test.py): against a private XenAPI simulator
# and the libvirtd, Glance and sshd beds, whose addresses with_beds.sh gives it.
set -euo pipefail
cd "$(dirname "$0")"
exec ../setup_compute_roles/files/with_beds.sh python lock_test.py

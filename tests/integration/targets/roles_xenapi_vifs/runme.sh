#!/usr/bin/env bash
# A XenServer instance's VIF wiring follows its dom0 port through every restart (hard reboot, rescue, unrescue,
# resize, revert), on the simulator pools' dom0 ports on the OVS bed.
set -euo pipefail
cd "$(dirname "$0")"
exec ../setup_compute_roles/files/with_beds.sh python roles_xenapi_vifs_test.py

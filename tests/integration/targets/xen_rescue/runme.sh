#!/usr/bin/env bash
# xen_rescue on the simulator's pool a, its instance's files checked after every step.
set -euo pipefail
cd "$(dirname "$0")"
exec ../setup_compute_roles/files/with_beds.sh python xen_rescue_test.py

#!/usr/bin/env bash
# The roles' playbooks on XenAPI, end to end on the simulator pools.
set -euo pipefail
cd "$(dirname "$0")"
exec ../setup_compute_roles/files/with_beds.sh python roles_xenapi_test.py

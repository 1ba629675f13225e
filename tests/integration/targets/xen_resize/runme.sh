#!/usr/bin/env bash
# xen_resize on the two simulator pools, the instance's files checked after every step.
set -euo pipefail
cd "$(dirname "$0")"
exec ../setup_compute_roles/files/with_beds.sh python xen_resize_test.py

#!/usr/bin/env bash
# Fleet repair end to end on the beds (fleet_test.py), whose addresses with_beds.sh gives it.
set -euo pipefail
cd "$(dirname "$0")"
exec ../setup_compute_roles/files/with_beds.sh python fleet_test.py

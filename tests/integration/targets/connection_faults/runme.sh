#!/usr/bin/env bash
# Session and connection faults (connection_faults.py): a private simulator, a private libvirtd,
# a 503 proxy in front of the Glance bed; the beds' environment as with_beds.sh gives it.
set -euo pipefail
cd "$(dirname "$0")"
exec ../setup_compute_roles/files/with_beds.sh python connection_faults.py

#!/usr/bin/env bash
# live_migrate.yml and evacuate.yml end to end on the beds: libvirt to the second libvirt host, XenAPI to pool b.
set -euo pipefail
cd "$(dirname "$0")"
exec ../setup_compute_roles/files/with_beds.sh python evacuate_test.py

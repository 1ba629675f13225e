#!/usr/bin/env bash
# The fault campaign (issue 13): the roles' playbooks on XenAPI, a fault injected at one external
# step at a time on private simulator pools, each followed by the checks and a converging re-run.
set -euo pipefail
cd "$(dirname "$0")"
exec ../setup_compute_roles/files/with_beds.sh python fault_campaign.py

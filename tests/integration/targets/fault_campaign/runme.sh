#!/usr/bin/env bash
# The fault campaign (issue 13): the roles' playbooks on XenAPI (private simulator pools) and on
# libvirt (a private libvirtd), a fault injected at one external step at a time, each followed by
# the checks and a converging re-run. ansible-test passes no FAULT_CAMPAIGN_DRIVERS through: to run
# one half, run this script by hand in the built collection (docs/developing.md).
set -euo pipefail
cd "$(dirname "$0")"
exec ../setup_compute_roles/files/with_beds.sh python fault_campaign.py

#!/usr/bin/env bash
# The libvirt half of the fault campaign (its code: ../fault_campaign), a target of its own so that the
# two halves can run in different lanes (tools/ci/integration_lanes.py).
set -euo pipefail
cd "$(dirname "$0")/../fault_campaign"
FAULT_CAMPAIGN_DRIVERS=libvirt exec ./runme.sh

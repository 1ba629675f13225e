#!/usr/bin/env bash
# The roles' playbooks on XenAPI, end to end on the simulator pools (roles_xenapi_test.py).
# The beds' addresses come from beds_env_file of the integration config
# (tests/integration/integration_config.yml, which ansible-test copies next to the targets).
set -euo pipefail
cd "$(dirname "$0")"
config=../../integration_config.yml
if [ ! -f "$config" ]; then
    echo "runme.sh: no integration config at $config (run it with make integration)" >&2
    exit 1
fi
beds_env_file=$(python -c 'import json, sys; print(json.load(open(sys.argv[1]))["beds_env_file"])' "$config")
set -a
# shellcheck disable=SC1090
source "$beds_env_file"
set +a
# as a user runs it: ansible-test's ANSIBLE_PLAYBOOK_DIR would make every command run "with default collection"
unset ANSIBLE_PLAYBOOK_DIR
files="$(cd ../setup_compute_roles/files && pwd)"
export PYTHONPATH="$files${PYTHONPATH:+:$PYTHONPATH}"
exec python roles_xenapi_test.py

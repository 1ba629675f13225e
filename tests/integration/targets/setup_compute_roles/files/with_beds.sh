#!/usr/bin/env bash
# with_beds.sh <command...>: run a roles target's driver with the beds' environment, as a user's
# shell would have it. The addresses come from beds_env_file of the integration config
# (tests/integration/integration_config.yml, which ansible-test copies next to the targets).
set -euo pipefail
files="$(cd "$(dirname "$0")" && pwd)"
config="$files/../../../integration_config.yml"
if [ ! -f "$config" ]; then
    echo "with_beds.sh: no integration config at $config (run it with make integration)" >&2
    exit 1
fi
beds_env_file=$(python -c 'import json, sys; print(json.load(open(sys.argv[1]))["beds_env_file"])' "$config")
set -a
# shellcheck disable=SC1090
source "$beds_env_file"
set +a
# as a user runs it: ansible-test's ANSIBLE_PLAYBOOK_DIR would make every command run "with default collection"
unset ANSIBLE_PLAYBOOK_DIR
export PYTHONPATH="$files${PYTHONPATH:+:$PYTHONPATH}"
exec "$@"

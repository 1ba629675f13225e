#!/usr/bin/env bash
# The bad-input corpus of #13: every module (corpus.py) and every role's argument specs
# (role_corpus.py), with the security checks that need the beds (TLS, secrets in outputs).
# The beds' addresses come from beds_env_file of the integration config
# (tests/integration/integration_config.yml, or "-e @<file>" when given).
set -euo pipefail
cd "$(dirname "$0")"
config=../../integration_config.yml
while [ $# -gt 0 ]; do
    case "$1" in
        -e) shift; case "${1:-}" in @*) config="${1#@}" ;; esac ;;
    esac
    shift || true
done
if [ ! -f "$config" ]; then
    echo "runme.sh: no integration config at $config (run it with make integration)" >&2
    exit 1
fi
beds_env_file=$(python -c 'import json, sys; print(json.load(open(sys.argv[1]))["beds_env_file"])' "$config")
set -a
# shellcheck disable=SC1090
source "$beds_env_file"
set +a
unset ANSIBLE_PLAYBOOK_DIR
status=0
python corpus.py || status=1
python role_corpus.py || status=1
exit "$status"

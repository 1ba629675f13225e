#!/usr/bin/env bash
# The bad-input corpus of #13: every module (corpus.py) and every role's argument specs
# (role_corpus.py), with the security checks that need the beds (TLS, secrets in outputs);
# the beds' environment as with_beds.sh gives it.
set -euo pipefail
cd "$(dirname "$0")"
# shellcheck disable=SC2016  # $status is the inner shell's, expanded there
exec ../setup_compute_roles/files/with_beds.sh bash -c 'status=0; python corpus.py || status=1; python role_corpus.py || status=1; exit "$status"'

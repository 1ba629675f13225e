#!/usr/bin/env bash
# The bad-input corpus of #13: every module (corpus.py) and every role's argument specs
# (role_corpus.py), with the security checks that need the beds (TLS, secrets in outputs);
# then #18's planted links (planted_links.py): links, hard links and FIFOs planted at every path
# the modules take. The beds' environment as with_beds.sh gives it. BAD_INPUT_PARTS (by hand:
# ansible-test passes no variables through) runs some of them, e.g. BAD_INPUT_PARTS=planted.
set -euo pipefail
cd "$(dirname "$0")"
parts="${BAD_INPUT_PARTS:-modules,roles,planted}"
# shellcheck disable=SC2016  # $status is the inner shell's, expanded there
exec ../setup_compute_roles/files/with_beds.sh bash -c '
status=0
case ",$1," in *,modules,*) python corpus.py || status=1;; esac
case ",$1," in *,roles,*) python role_corpus.py || status=1;; esac
case ",$1," in *,planted,*) python planted_links.py || status=1;; esac
exit "$status"' bash "$parts"

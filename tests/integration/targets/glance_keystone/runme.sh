#!/usr/bin/env bash
# The snapshot and boot roles against Glance behind Keystone, authenticated by a clouds.yaml cloud of
# each auth type; wrong password, expired token, a token that expires during an upload; then no
# secret in the play's output (every result, -v) nor in the Keystone and Glance beds' logs.
set -euo pipefail
cd "$(dirname "$0")"
work=$(mktemp -d /tmp/nt-gk-XXXXXX)
chmod 755 "$work"                     # QEMU (libvirt-qemu) opens the instance files under it
trap 'rm -rf "$work"' EXIT
unset ANSIBLE_PLAYBOOK_DIR
started=$(date +%s)
ansible-playbook -v -i localhost, -c local -e ansible_python_interpreter="$(command -v python)" \
    -e @../../integration_config.yml -e "work=$work" \
    glance_keystone.yml 2>&1 | tee "$work/play.log"
python secrets_grep.py "$work/clouds.yaml" "$work/play.log"
echo "glance_keystone: $(( $(date +%s) - started )) s"

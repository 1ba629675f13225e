"""token.py <collections path> <key file> <instance uuid>: a link token for a libvirt domain that
does not exist, signed with the key the role installed (the proxy must check it, then refuse)."""

import sys
import time

sys.path.insert(0, sys.argv[1])
from ansible_collections.novaops.compute.plugins.module_utils.common import console_token  # noqa: E402

with open(sys.argv[2], encoding="utf-8") as handle:
    KEY = handle.read().strip()
instance = dict(driver="libvirt", uuid=sys.argv[3], name="nt-cp-absent")
target = dict(uri="qemu:///system", host="127.0.0.1", port=5999, listen="127.0.0.1", domain_id=1)
print(console_token.issue(KEY, "libvirt", instance, target, 60, time.time())[0])

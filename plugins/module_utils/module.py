# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""AnsibleModule with the collection's one failure shape (after amazon.aws's fail_json_aws)."""

from __future__ import annotations

import contextlib

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.novaops.compute.plugins.module_utils.errors import NovaopsError


class NovaopsModule(AnsibleModule):

    def fail_error(self, exc, msg=None):
        """Fail with a NovaopsError's sentence and facts (xenapi_error, libvirt_error, ...)."""
        facts = dict(exc.facts)
        text = exc.msg if msg is None else "%s: %s" % (msg, exc.msg)
        self.fail_json(msg=text, **facts)

    @contextlib.contextmanager
    def failing_clearly(self, msg=None):
        """Turn any foreseen fault raised inside the block into a clean failed result."""
        try:
            yield
        except NovaopsError as exc:
            self.fail_error(exc, msg)

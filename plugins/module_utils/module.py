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

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # No name, path, URL or text this collection hands on can hold a NUL byte (XenAPI's
        # XML, libvirt, OVS and the kernel all take C strings); refused here, once for all,
        # rather than as a ValueError deep in a command or an SDK.
        option = _option_with_nul(self.params)
        if option:
            self.fail_json(msg="Option %s contains a NUL byte (\\x00), which no name, path or text can hold." % option)

    def fail_json(self, msg, **kwargs):
        self._hide_secrets()
        super().fail_json(msg, **kwargs)

    def exit_json(self, **kwargs):
        self._hide_secrets()
        super().exit_json(**kwargs)

    def _hide_secrets(self):
        """Add every no_log option's value to no_log_values, tolerating malformed input.

        ansible-core collects them only once the whole input is well-formed: a single
        malformed sub-option (a string where a list of dicts was expected) makes it drop
        them all, and the failure's ``invocation`` would show the passwords in clear.
        """
        spec = getattr(self, "argument_spec", None)
        params = getattr(self, "params", None)
        if spec and isinstance(params, dict):
            self.no_log_values.update(_secret_values(spec, params))

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


def _option_with_nul(value, where=""):
    """The dotted name of the first option whose value (or key) holds a NUL byte, or None."""
    if isinstance(value, str):
        return where if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            name = "%s.%s" % (where, key) if where else str(key)
            if "\x00" in str(key):
                return name.replace("\x00", "\\x00")
            found = _option_with_nul(item, name)
            if found:
                return found
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            found = _option_with_nul(item, "%s[%d]" % (where, index))
            if found:
                return found
    return None


def _secret_values(spec, params):
    """The strings given to no_log options (under any alias, in sub-options too), as found."""
    found = set()
    for name, option in spec.items():
        given = [params.get(key) for key in [name] + list(option.get("aliases") or []) if key in params]
        for value in given:
            if option.get("no_log"):
                found.update(_strings(value))
            subspec = option.get("options")
            if subspec:
                for item in value if isinstance(value, list) else [value]:
                    if isinstance(item, dict):
                        found.update(_secret_values(subspec, item))
    return found


def _strings(value):
    if isinstance(value, str):
        return {value} if value else set()
    if isinstance(value, dict):
        return set().union(*[_strings(v) for v in value.values()]) if value else set()
    if isinstance(value, (list, tuple)):
        return set().union(*[_strings(v) for v in value]) if value else set()
    return set()

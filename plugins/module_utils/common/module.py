# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""AnsibleModule with the collection's one failure shape (after amazon.aws's fail_json_aws),
an explicit null taken as an option not given, the input checks of input_guards.py on every
option, the rules each module declares beside its argument spec (input_rules.py) - with a
warning for every TLS verification turned off - and every URL in what it shows (messages, warnings, results, its own
arguments) without the credentials in it (redact.py)."""

from __future__ import annotations

import contextlib

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.novaops.compute.plugins.module_utils.common import input_guards as guards
from ansible_collections.novaops.compute.plugins.module_utils.common.input_rules import check_rules
from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError


def _may_show_a_url(value):
    """Whether a string in value (dict values, list items) holds '://': only then is redact.py loaded
    (a module compiles each module_util it imports from the AnsiballZ zip on every run, and most runs show
    no URL at all)."""
    if isinstance(value, str):
        return "://" in value
    if isinstance(value, dict):
        return any(_may_show_a_url(item) for item in value.values())
    if isinstance(value, (list, tuple)):
        return any(_may_show_a_url(item) for item in value)
    return False


def redact(value):
    """redact.redact(value): a result, or text, without the credentials of the URLs in it."""
    if not _may_show_a_url(value):
        return value
    from ansible_collections.novaops.compute.plugins.module_utils.common import redact as urls
    return urls.redact(value)


class NovaopsModule(AnsibleModule):

    def __init__(self, *args, input_rules=None, **kwargs):
        try:
            super().__init__(*args, **kwargs)
        except (TypeError, AttributeError, ValueError) as exc:
            # ansible-core's validation itself crashed on a malformed value
            if not isinstance(getattr(self, "params", None), dict):
                raise
            self.fail_json(msg=guards.malformed_dict_option(self.argument_spec, self.params) or
                           "The options could not be validated (%s); check each option's type." % exc)
        problem, warnings = check_rules(input_rules or {}, self.params)
        problem = guards.nul_problem(self.params) or problem or \
            guards.int_range_problem(self.argument_spec, self.params)
        if problem:
            self.fail_json(msg=problem)
        for warning in warnings:
            self.warn(warning)

    def _load_params(self):
        """An explicit null of an option with no default, or with a fallback, is that option not given.

        ansible-core counts it as given: ``vm: null`` satisfied required_one_of and required_if, and
        the module met a None it never expected; ``validate_certs: null`` (an inventory's
        ``xenapi_validate_certs: null`` through a role) skipped the environment and the default and
        was refused.  Dropped here, ansible-core's own rules see it, then the fallback and the default.
        """
        super()._load_params()
        unset_by_null = set()
        for name, option in self.argument_spec.items():
            if option.get("default") is None or option.get("fallback") is not None:
                unset_by_null.update([name] + list(option.get("aliases") or []))
        self.params = dict((key, value) for key, value in self.params.items()
                           if value is not None or key not in unset_by_null)

    def warn(self, warning, **kwargs):
        super().warn(redact(warning), **kwargs)

    def fail_json(self, msg, **kwargs):
        self._hide_secrets()
        super().fail_json(redact(msg), **self._shown(kwargs))

    def exit_json(self, **kwargs):
        self._hide_secrets()
        super().exit_json(**self._shown(kwargs))

    def _shown(self, result):
        """The result with every URL redacted, and the arguments shown (invocation) likewise."""
        result = redact(result)
        params = getattr(self, "params", None)
        if "invocation" not in result and isinstance(params, dict):
            result["invocation"] = dict(module_args=redact(params))
        return result

    def _hide_secrets(self):
        """Add every no_log option's value to no_log_values, tolerating malformed input.

        (see input_guards.secret_values: ansible-core drops them all on one malformed sub-option)
        """
        spec = getattr(self, "argument_spec", None)
        params = getattr(self, "params", None)
        if spec and isinstance(params, dict):
            self.no_log_values.update(guards.secret_values(spec, params))

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

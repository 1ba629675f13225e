# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Argument specs that compose: connection options are written once and merged into each module's."""

from __future__ import annotations

import copy

from ansible.module_utils.basic import AnsibleModule


from ansible_collections.novaops.compute.plugins.module_utils.common.input_rules import unknown_paths


class ArgumentSpec:
    """An argument spec plus its cross-option rules, mergeable like community.crypto's.

    ``input_rules`` declares what ansible-core's types leave out, per option: a dict from an option's
    path (``timeout``, ``glance.ca_path``, ``disks.size_mb``) to a rule of input_rules.py.
    """

    _RULES = ("mutually_exclusive", "required_together", "required_one_of", "required_if", "required_by")

    def __init__(self, argument_spec=None, input_rules=None, **rules):
        unknown = set(rules) - set(self._RULES)
        if unknown:
            raise TypeError("unknown argument spec rules: %s" % ", ".join(sorted(unknown)))
        self.argument_spec = copy.deepcopy(argument_spec or {})
        self.mutually_exclusive = list(rules.get("mutually_exclusive", []))
        self.required_together = list(rules.get("required_together", []))
        self.required_one_of = list(rules.get("required_one_of", []))
        self.required_if = list(rules.get("required_if", []))
        self.required_by = dict(rules.get("required_by", {}))
        self.input_rules = dict(input_rules or {})

    def update_argspec(self, **options):
        self.argument_spec.update(options)
        return self

    def merge(self, other):
        """Fold other into this spec; an option defined twice is a programming error."""
        clash = set(self.argument_spec) & set(other.argument_spec)
        if clash:
            raise ValueError("options defined twice: %s" % ", ".join(sorted(clash)))
        self.argument_spec.update(copy.deepcopy(other.argument_spec))
        for rule in ("mutually_exclusive", "required_together", "required_one_of", "required_if"):
            getattr(self, rule).extend(getattr(other, rule))
        self.required_by.update(other.required_by)
        self.input_rules.update(other.input_rules)
        return self

    def create_ansible_module(self, module_class=AnsibleModule, **kwargs):
        kwargs.setdefault("supports_check_mode", True)
        unknown = unknown_paths(self.input_rules, self.argument_spec)
        if unknown:
            raise ValueError("input rules for options the spec lacks: %s" % ", ".join(unknown))
        if self.input_rules:
            kwargs["input_rules"] = self.input_rules
        return module_class(
            argument_spec=self.argument_spec,
            mutually_exclusive=self.mutually_exclusive,
            required_together=self.required_together,
            required_one_of=self.required_one_of,
            required_if=self.required_if,
            required_by=self.required_by,
            **kwargs
        )

# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A cloud of clouds.yaml as the Glance client's authentication: openstacksdk's loader, keystoneauth's session.

openstacksdk's ``openstack.config`` finds and reads clouds.yaml, secure.yaml and the ``OS_*``
variables exactly as the ``openstack`` CLI and the openstack.cloud collection do; keystoneauth1
(which it brings) authenticates by the cloud's ``auth_type`` (password, token,
v3applicationcredential, admin_token, none, ...), picks the image endpoint of the service
catalog by the cloud's interface and region, and authenticates again when the token is about to
expire.  Both are imported only when a cloud is named: ``glance.url`` with a token needs neither.
"""

from __future__ import annotations

from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError

# auth types that send no token at all (a Glance without Keystone)
NO_AUTH_TYPES = ("none",)
# what a refusal by Keystone means, by the cloud's auth_type
REFUSAL_CAUSES = {
    "password": "the user name or password is wrong, or the user or project is disabled",
    "v3password": "the user name or password is wrong, or the user or project is disabled",
    "token": "the token has expired or was revoked",
    "v3token": "the token has expired or was revoked",
    "v3applicationcredential": "the application credential's id or secret is wrong, or the credential "
                               "expired or was deleted",
}


def _openstack_config():
    try:
        from openstack import config as os_config       # pylint: disable=import-outside-toplevel
        from keystoneauth1 import exceptions as ks_exc  # pylint: disable=import-outside-toplevel
    except ImportError as exc:
        raise NovaopsError("glance.cloud needs the Python package openstacksdk (which brings keystoneauth1) on the "
                           "host that runs the module, to read clouds.yaml and authenticate with Keystone; it is "
                           "missing there (%s). Install it (pip install openstacksdk), or set glance.url and "
                           "glance.token instead." % exc)
    return os_config, ks_exc


class CloudAuth:
    """The authentication of one cloud: fresh auth headers for each request, and the image endpoint."""

    def __init__(self, cloud, timeout=60):
        os_config, self.ks_exc = _openstack_config()
        self.cloud = cloud
        loader = None
        try:
            loader = os_config.OpenStackConfig()
            self.region = loader.get_one(cloud=cloud)
        except Exception as exc:  # pylint: disable=broad-except  # openstacksdk's config errors share no base
            read = getattr(loader, "config_filename", None)
            raise NovaopsError("Cannot use cloud %r of clouds.yaml%s: %s" % (
                cloud, " (%s)" % read if read else " (none found)", _first_line(exc)))
        self.config = self.region.config
        self.auth_type = str(self.config.get("auth_type") or "password").lower().replace("-", "_")
        self.auth_url = (self.config.get("auth") or {}).get("auth_url")
        self.session = self.region.get_session()
        self.session.timeout = timeout

    @property
    def sends_token(self):
        return self.auth_type not in NO_AUTH_TYPES

    @property
    def verify(self):
        """(validate_certs, ca_path) of the cloud's verify and cacert."""
        return self.config.get("verify", True) is not False, self.config.get("cacert")

    def headers(self):
        """X-Auth-Token, from keystoneauth: it authenticates again when the token expires soon."""
        if not self.sends_token:
            return {}
        return self._keystone(self.session.get_auth_headers) or {}

    def invalidate(self):
        """Forget the token (Glance refused it): the next headers() authenticates anew."""
        if self.sends_token:
            self.session.invalidate()

    def image_endpoint(self):
        """The cloud's image_endpoint_override, else the image endpoint of the service catalog
        for the cloud's interface and region."""
        endpoint = self.config.get("image_endpoint_override")
        if endpoint:
            return endpoint
        interface, region = self.region.get_interface() or "public", self.region.get_region_name("image")
        endpoint = self._keystone(lambda: self.session.get_endpoint(
            service_type="image", interface=interface, region_name=region))
        if not endpoint:
            raise NovaopsError("Cloud %r: the service catalog has no image endpoint for interface %s%s." % (
                self.cloud, interface, " in region %s" % region if region else ""))
        return endpoint

    def _keystone(self, call):
        """call(), with keystoneauth's errors as a sentence naming the cloud and the cause."""
        exc_mod = self.ks_exc
        try:
            return call()
        except (exc_mod.Unauthorized, exc_mod.NotFound) as exc:
            cause = REFUSAL_CAUSES.get(self.auth_type, "its credentials were refused")
            raise NovaopsError("Cloud %r: Keystone at %s refused to authenticate it (HTTP %s): %s." % (
                self.cloud, self.auth_url, exc.http_status, cause),
                keystone_error=dict(cloud=self.cloud, status=exc.http_status, auth_type=self.auth_type))
        except exc_mod.MissingRequiredOptions as exc:
            raise NovaopsError("Cloud %r: auth_type %s needs %s." % (
                self.cloud, self.auth_type, ", ".join("auth.%s" % opt.dest for opt in exc.options)))
        except exc_mod.ConnectionError as exc:
            raise NovaopsError("Cloud %r: Keystone at %s is unreachable: %s" % (
                self.cloud, self.auth_url, _first_line(exc)))
        except exc_mod.ClientException as exc:
            raise NovaopsError("Cloud %r: authentication failed (%s): %s" % (
                self.cloud, type(exc).__name__, _first_line(exc)))


def _first_line(exc):
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__

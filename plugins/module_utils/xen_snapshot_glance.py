# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The Glance v2 calls xen_snapshot makes from the controller side (the data itself goes
from dom0 through the ``glance`` plugin): create, find by name + properties, read, delete,
wait for a status; where Glance is from an endpoint + token or a clouds.yaml cloud.

A thin private helper, same names and ``glance`` option as module_utils/glance.py (the
collection's Glance client) so that xen_snapshot can switch to it by changing one import.
"""

from __future__ import annotations

import json
import os
import ssl
import time

from http import client as http_client
from urllib.parse import quote, urlencode, urlsplit

from ansible.module_utils.basic import env_fallback

from ansible_collections.novaops.compute.plugins.module_utils.argspec import ArgumentSpec
from ansible_collections.novaops.compute.plugins.module_utils.errors import NovaopsError, WaitTimeout

try:
    import yaml
    HAS_YAML = True
except ImportError:
    HAS_YAML = False

BASE_FIELDS = ("name", "id", "disk_format", "container_format", "visibility", "min_disk", "min_ram",
               "protected", "tags", "os_hidden")


def glance_argument_spec():
    return ArgumentSpec(dict(
        glance=dict(type="dict", apply_defaults=True, options=dict(
            url=dict(type="str", fallback=(env_fallback, ["OS_IMAGE_URL"])),
            token=dict(type="str", no_log=True, fallback=(env_fallback, ["OS_AUTH_TOKEN"])),
            cloud=dict(type="str", fallback=(env_fallback, ["OS_CLOUD"])),
            project_id=dict(type="str"),
            roles=dict(type="list", elements="str"),
            validate_certs=dict(type="bool", default=True),
            ca_path=dict(type="path"),
            timeout=dict(type="int", default=300),
        )),
    ))


class GlanceError(NovaopsError):
    def __init__(self, msg, method=None, url=None, status=None, body=None):
        self.status = status
        super().__init__(msg, glance_error=dict(method=method, url=url, status=status, body=(body or "")[:2000]))


class GlanceClient:
    def __init__(self, endpoint, token=None, project_id=None, roles=None, validate_certs=True, ca_path=None,
                 timeout=300):
        if not endpoint:
            raise NovaopsError("No Glance endpoint: set glance.url (or OS_IMAGE_URL), or glance.cloud.")
        parts = urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise NovaopsError("The Glance endpoint %r is not an http(s) URL." % endpoint)
        path = parts.path.rstrip("/")
        if path.endswith("/v2"):
            path = path[:-3]
        self.scheme, self.host, self.port, self.prefix = parts.scheme, parts.hostname, parts.port, path
        self.endpoint = "%s://%s%s" % (parts.scheme, parts.netloc, path)
        self.token, self.project_id, self.roles = token, project_id, roles
        self.validate_certs, self.ca_path, self.timeout = validate_certs, ca_path, timeout

    @classmethod
    def from_params(cls, params):
        opts = dict(params or {})
        kwargs = dict(validate_certs=opts.get("validate_certs", True), ca_path=opts.get("ca_path"),
                      timeout=opts.get("timeout") or 300)
        if opts.get("cloud"):
            return cls.from_cloud(opts["cloud"], **kwargs)
        return cls(opts.get("url"), token=opts.get("token"), project_id=opts.get("project_id"),
                   roles=opts.get("roles"), **kwargs)

    @classmethod
    def from_cloud(cls, cloud, **kwargs):
        """clouds.yaml as openstacksdk reads it: image_endpoint_override + auth.token, or keystone v3."""
        config, path = load_cloud_config(cloud)
        auth = config.get("auth") or {}
        kwargs["validate_certs"] = config.get("verify", kwargs.get("validate_certs", True)) is not False
        if config.get("cacert"):
            kwargs["ca_path"] = config["cacert"]
        endpoint = config.get("image_endpoint_override")
        token = auth.get("token")
        project_id = auth.get("project_id")
        if not (endpoint and token):
            if not auth.get("auth_url"):
                raise NovaopsError("Cloud %r in %s has neither image_endpoint_override with auth.token "
                                   "nor auth.auth_url." % (cloud, path))
            token, catalog = keystone_token(auth, **kwargs)
            endpoint = endpoint or catalog_endpoint(catalog, "image", config.get("interface") or "public",
                                                    config.get("region_name"))
            if not endpoint:
                raise NovaopsError("The service catalog of cloud %r has no image endpoint." % cloud)
        return cls(endpoint, token=token, project_id=project_id, **kwargs)

    def headers(self):
        """The authentication headers, as the dom0 plugin must send them too."""
        out = {}
        if self.token:
            out["X-Auth-Token"] = self.token
        if self.project_id:
            out["X-Tenant-Id"] = self.project_id
            out["X-Project-Id"] = self.project_id
        if self.roles:
            out["X-Roles"] = ",".join(self.roles)
        return out

    def _connection(self):
        if self.scheme == "https":
            context = ssl.create_default_context(cafile=self.ca_path)
            if not self.validate_certs:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            return http_client.HTTPSConnection(self.host, self.port, timeout=self.timeout, context=context)
        return http_client.HTTPConnection(self.host, self.port, timeout=self.timeout)

    def request(self, method, path, body=None, headers=None, expect=(200,), prefix=None, raw=False):
        url = (self.prefix if prefix is None else prefix) + path
        hdrs = {"User-Agent": "novaops.compute-xen_snapshot/1", "Accept": "application/json"}
        hdrs.update(self.headers())
        hdrs.update(headers or {})
        conn = self._connection()
        try:
            conn.request(method, url, body=body, headers=hdrs)
            resp = conn.getresponse()
            data = resp.read()
        except (OSError, http_client.HTTPException) as exc:
            raise GlanceError("Glance at %s is unreachable (%s %s): %s" % (self.endpoint, method, path, exc),
                              method=method, url=self.endpoint + path)
        finally:
            conn.close()
        if resp.status not in expect:
            text = data.decode("utf-8", "replace")
            raise GlanceError("Glance %s %s answered %s %s: %s" % (method, path, resp.status, resp.reason,
                                                                   " ".join(text.split())[:300]),
                              method=method, url=self.endpoint + path, status=resp.status, body=text)
        if raw:
            return resp, data
        try:
            return json.loads(data.decode("utf-8")) if data else None
        except ValueError:
            return None

    def get_image(self, image_id, required=True):
        try:
            return self.request("GET", "/v2/images/%s" % quote(image_id, safe=""))
        except GlanceError as exc:
            if exc.status == 404 and not required:
                return None
            raise

    def find_images(self, name=None, properties=None):
        props = dict((k, str(v)) for k, v in (properties or {}).items())
        query = dict(props, limit=100)
        if name is not None:
            query["name"] = name
        images = []
        path = "/v2/images?" + urlencode(query)
        while path:
            page = self.request("GET", path) or {}
            images.extend(page.get("images", []))
            nxt = page.get("next")
            path = nxt[len(self.prefix):] if nxt and self.prefix and nxt.startswith(self.prefix) else nxt
        return [img for img in images if all(str(img.get(k)) == v for k, v in props.items())]

    def create_image(self, name, disk_format="raw", container_format="bare", **fields):
        body = dict(name=name, disk_format=disk_format, container_format=container_format)
        for key, value in fields.items():
            if value is not None:
                body[key] = value if key in BASE_FIELDS else str(value)
        return self.request("POST", "/v2/images", body=json.dumps(body),
                            headers={"Content-Type": "application/json"}, expect=(201,))

    def delete_image(self, image_id, missing_ok=True):
        try:
            self.request("DELETE", "/v2/images/%s" % quote(image_id, safe=""), expect=(204,))
            return True
        except GlanceError as exc:
            if exc.status == 404 and missing_ok:
                return False
            raise

    def wait_for_status(self, image_id, wanted, timeout, interval=0.2):
        deadline = time.monotonic() + timeout
        while True:
            image = self.get_image(image_id)
            if image.get("status") in wanted:
                return image
            if image.get("status") in ("killed", "deleted", "deactivated"):
                raise NovaopsError("Image %s went %s." % (image_id, image.get("status")))
            if time.monotonic() >= deadline:
                raise WaitTimeout("image %s to become %s (it is %s)" % (image_id, "/".join(wanted),
                                                                         image.get("status")), timeout)
            time.sleep(interval)


def load_cloud_config(cloud):
    if not HAS_YAML:
        raise NovaopsError("PyYAML is required to read clouds.yaml.")
    files = []
    if os.environ.get("OS_CLIENT_CONFIG_FILE"):
        files.append(os.environ["OS_CLIENT_CONFIG_FILE"])
    files += [os.path.join(os.getcwd(), "clouds.yaml"), os.path.expanduser("~/.config/openstack/clouds.yaml"),
              "/etc/openstack/clouds.yaml"]
    for path in files:
        if os.path.isfile(path):
            with open(path) as handle:
                clouds = (yaml.safe_load(handle) or {}).get("clouds") or {}
            if cloud in clouds:
                return clouds[cloud] or {}, path
    raise NovaopsError("No cloud named %r in any clouds.yaml (%s)." % (cloud, ", ".join(files)))


def keystone_token(auth, validate_certs=True, ca_path=None, timeout=60):
    """Keystone v3 password authentication: (token, catalog)."""
    user = dict(password=auth.get("password") or "")
    if auth.get("user_id"):
        user["id"] = auth["user_id"]
    else:
        user["name"] = auth.get("username")
        user["domain"] = dict(name=auth.get("user_domain_name") or auth.get("domain_name") or "Default")
    body = dict(auth=dict(identity=dict(methods=["password"], password=dict(user=user))))
    if auth.get("project_id"):
        body["auth"]["scope"] = dict(project=dict(id=auth["project_id"]))
    elif auth.get("project_name"):
        body["auth"]["scope"] = dict(project=dict(name=auth["project_name"], domain=dict(
            name=auth.get("project_domain_name") or auth.get("domain_name") or "Default")))
    url = auth["auth_url"].rstrip("/")
    if not url.endswith("/v3"):
        url += "/v3"
    client = GlanceClient(url, validate_certs=validate_certs, ca_path=ca_path, timeout=timeout)
    resp, data = client.request("POST", "/auth/tokens", body=json.dumps(body), prefix=urlsplit(url).path,
                                headers={"Content-Type": "application/json"}, expect=(201,), raw=True)
    catalog = (json.loads(data.decode("utf-8")).get("token") or {}).get("catalog") or []
    return resp.getheader("X-Subject-Token"), catalog


def catalog_endpoint(catalog, service_type, interface="public", region=None):
    for service in catalog:
        if service.get("type") != service_type:
            continue
        for ep in service.get("endpoints", []):
            if ep.get("interface") == interface and (not region or region in (ep.get("region"), ep.get("region_id"))):
                return ep.get("url")
    return None

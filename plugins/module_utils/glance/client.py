# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A Glance v2 image API client on the standard library.

Uploads and downloads are streamed: an upload is sent with chunked transfer encoding
from the file in ``chunk_size`` pieces (never the whole file in memory), a download is
written to disk as it arrives; both hash on the way (md5 for ``checksum``, and the
image's ``os_hash_algo`` for ``os_hash_value``) and return byte counts and durations.

Transient answers (500, 502, 503, 504, or no connection) are retried with a bounded
exponential backoff (RETRY_DELAYS) where repeating the request cannot do anything twice:
GET, HEAD, DELETE and PATCH (JSON-patch ``add`` sets a value), the POST that creates an
image (it carries a client-chosen image id, so a repeat finds 409 and the first one's
image), and an upload, which restarts from the first byte, only
when the source can be read again (a path or a seekable file) and the image is still
``queued`` (Glance took no data).  A streamed body from an unseekable file is never resent.

Where the service is: an endpoint plus a token (or, for a deployment without keystone,
the ``X-Roles`` / ``X-Tenant-Id`` headers of Glance's noauth pipeline), or the name of a
cloud in clouds.yaml (cloud_auth.py: openstacksdk's loader and keystoneauth1, imported only
then).  With a cloud, every request carries a token keystoneauth renewed when it was about
to expire, and a request Glance answers 401 (the token ran out on the way) is sent once more
with a new token.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid

from http import client as http_client
from urllib.parse import quote, urlencode, urlsplit

from ansible.module_utils.basic import env_fallback

from ansible_collections.novaops.compute.plugins.module_utils.common.argspec import ArgumentSpec
from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError, WaitTimeout
from ansible_collections.novaops.compute.plugins.module_utils.common.tls import client_context
from ansible_collections.novaops.compute.plugins.module_utils.common.redact import redact_url
from ansible_collections.novaops.compute.plugins.module_utils.common.file_rule import PLAIN_FILE
from ansible_collections.novaops.compute.plugins.module_utils.common import input_rules as rules

CHUNK_SIZE = 1024 * 1024
USER_AGENT = "novaops.compute-glance/1"
# Answers of a service (or of the proxy in front of it) that could not take the request now.
RETRY_STATUSES = (500, 502, 503, 504)
# Seconds slept before the 2nd, 3rd and 4th attempt: at most 4 attempts, 3.5 s of waiting
# (a Retry-After up to MAX_RETRY_WAIT is honoured instead when it asks for longer).
RETRY_DELAYS = (0.5, 1.0, 2.0)
MAX_RETRY_WAIT = 5.0
REPEATABLE_METHODS = ("GET", "HEAD", "DELETE", "PATCH")
# Fields of an image record a client may set at create time; the rest are properties.
BASE_FIELDS = ("name", "id", "disk_format", "container_format", "visibility", "min_disk", "min_ram",
               "protected", "tags", "os_hidden")


def glance_argument_spec():
    """The ``glance`` option (a dict) every module that talks to Glance shares."""
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
    ), input_rules={"glance.validate_certs": rules.TlsSwitch(("url", "cloud")), "glance.ca_path": PLAIN_FILE,
                    "glance.timeout": rules.SECONDS})


class GlanceError(NovaopsError):
    """A failed Glance request; ``glance_error`` carries method, url, status and body."""

    def __init__(self, msg, method=None, url=None, status=None, body=None, retry_after=None, timed_out=False):
        self.status = status
        self.retry_after = retry_after
        self.timed_out = timed_out
        super().__init__(msg, glance_error=dict(method=method, url=url, status=status,
                                                body=(body or "")[:2000]))

    @property
    def transient(self):
        """A 5xx worth another try, or no connection at all (status None) - but not a request that
        timed out: another try would wait the whole timeout again."""
        return (self.status is None and not self.timed_out) or self.status in RETRY_STATUSES


class _Hashes:
    def __init__(self, algo=None):
        self.md5 = hashlib.md5()
        self.algo = algo
        self.other = hashlib.new(algo) if algo else None
        self.size = 0

    def update(self, chunk):
        self.md5.update(chunk)
        if self.other is not None:
            self.other.update(chunk)
        self.size += len(chunk)

    def result(self):
        out = dict(bytes=self.size, checksum=self.md5.hexdigest())
        if self.other is not None:
            out["os_hash_algo"] = self.algo
            out["os_hash_value"] = self.other.hexdigest()
        return out


def verify_image_data(image, hashes):
    """Compare what was transferred with the image record; a mismatch is a NovaopsError."""
    if image.get("size") is not None and hashes["bytes"] != image["size"]:
        raise NovaopsError("Image %s: got %d bytes, Glance says %d." % (image.get("id"), hashes["bytes"], image["size"]))
    if image.get("os_hash_value") and hashes.get("os_hash_value"):
        if hashes["os_hash_value"] != image["os_hash_value"]:
            raise NovaopsError("Image %s: %s of the data does not match Glance's os_hash_value." % (
                image.get("id"), image.get("os_hash_algo")))
        return "os_hash_value"
    if image.get("checksum"):
        if hashes["checksum"] != image["checksum"]:
            raise NovaopsError("Image %s: md5 of the data does not match Glance's checksum." % image.get("id"))
        return "checksum"
    raise NovaopsError("Image %s has neither os_hash_value nor checksum; refusing unverifiable data." % image.get("id"))


class GlanceClient:
    """Glance v2 at ``endpoint`` (the URL before ``/v2``)."""

    def __init__(self, endpoint, token=None, project_id=None, roles=None, validate_certs=True,
                 ca_path=None, timeout=300, chunk_size=CHUNK_SIZE, auth=None):
        if not endpoint:
            raise NovaopsError("No Glance endpoint: set glance.url (or OS_IMAGE_URL), or glance.cloud.")
        try:
            parts = urlsplit(endpoint)
            usable = parts.scheme in ("http", "https") and parts.hostname and parts.port != 0 and \
                not any(char.isspace() or ord(char) < 32 for char in endpoint)
        except ValueError:       # a bad IPv6 literal, a port that is no number
            usable = False
        if not usable:
            raise NovaopsError("The Glance endpoint %r is not an http(s) URL." % redact_url(endpoint)[:200])
        path = parts.path.rstrip("/")
        if path.endswith("/v2"):
            path = path[:-3]
        self.scheme = parts.scheme
        self.host = parts.hostname
        self.port = parts.port
        self.prefix = path
        # what is contacted (credentials in the URL are never sent), and what messages and dom0 plugins see
        self.endpoint = "%s://%s%s" % (parts.scheme, parts.netloc.rsplit("@", 1)[-1], path)
        for name, value in [("token", token), ("project_id", project_id)] + [("roles", role) for role in roles or []]:
            if value is not None and not _header_safe(value):
                raise NovaopsError("glance.%s holds characters an HTTP header cannot carry (printable Latin-1 "
                                   "only, no line breaks)." % name)
        self.token = token
        self.auth = auth        # a cloud_auth.CloudAuth: its token, not ``token``
        self.project_id = project_id
        self.roles = roles
        self.validate_certs = validate_certs
        self.ca_path = ca_path
        self.timeout = timeout
        self.chunk_size = chunk_size
        self.requests = 0
        self.retries = 0

    # -- construction ------------------------------------------------------------------------
    @classmethod
    def from_params(cls, params):
        """From the ``glance`` option of glance_argument_spec() (a cloud name wins over url)."""
        opts = dict(params or {})
        kwargs = dict(validate_certs=opts.get("validate_certs", True), ca_path=opts.get("ca_path"),
                      timeout=opts.get("timeout") or 300)
        if opts.get("cloud"):
            # the cloud's own verify/cacert apply unless the task opts out or names a CA itself
            if kwargs["validate_certs"] is not False:
                del kwargs["validate_certs"]
            if not kwargs["ca_path"]:
                del kwargs["ca_path"]
            return cls.from_cloud(opts["cloud"], project_id=opts.get("project_id"), roles=opts.get("roles"),
                                  **kwargs)
        return cls(opts.get("url"), token=opts.get("token"), project_id=opts.get("project_id"),
                   roles=opts.get("roles"), **kwargs)

    @classmethod
    def from_cloud(cls, cloud, **kwargs):
        """A cloud of clouds.yaml (openstacksdk's loader; keystoneauth1 authenticates)."""
        from ansible_collections.novaops.compute.plugins.module_utils.glance.cloud_auth import CloudAuth
        auth = CloudAuth(cloud, timeout=kwargs.get("timeout", 300))
        validate_certs, ca_path = auth.verify
        kwargs.setdefault("validate_certs", validate_certs)
        if ca_path:
            kwargs.setdefault("ca_path", ca_path)
        return cls(auth.image_endpoint(), auth=auth, **kwargs)

    # -- HTTP --------------------------------------------------------------------------------
    def _connection(self):
        if self.scheme == "https":
            return http_client.HTTPSConnection(self.host, self.port, timeout=self.timeout,
                                               context=client_context(self.ca_path, self.validate_certs))
        return http_client.HTTPConnection(self.host, self.port, timeout=self.timeout)

    def auth_headers(self):
        """The headers that authenticate a request (token, or a noauth Glance's project and roles).

        What another client acting for this one must send, e.g. a dom0 plugin streaming an image.
        """
        headers = {}
        if self.auth is not None:
            headers.update(self.auth.headers())
        elif self.token:
            headers["X-Auth-Token"] = self.token
        if self.project_id:
            headers["X-Tenant-Id"] = self.project_id
            headers["X-Project-Id"] = self.project_id
        if self.roles:
            headers["X-Roles"] = ",".join(self.roles)
        return headers

    def _headers(self, extra=None):
        headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        headers.update(self.auth_headers())
        headers.update(extra or {})
        return headers

    def request(self, method, path, body=None, headers=None, expect=(200,), stream=False, retry=None):
        """A request; returns (response, connection) when stream, else the decoded JSON (or None).

        Transient failures are retried when ``retry`` (default: the method is in
        REPEATABLE_METHODS) and the body can be sent again (bytes, str or none).
        """
        if retry is None:
            retry = method in REPEATABLE_METHODS
        if body is not None and not isinstance(body, (bytes, str)):
            retry = False
        attempt = 0
        renewed = False
        while True:
            try:
                return self._request_once(method, path, body, headers, expect, stream)
            except GlanceError as exc:
                if (body is None or isinstance(body, (bytes, str))) and self.renew_token(exc, renewed):
                    renewed = True
                    continue
                if not retry or not exc.transient or attempt >= len(RETRY_DELAYS):
                    raise
                self.backoff(attempt, exc)
                attempt += 1

    def renew_token(self, exc, renewed):
        """Whether to send the request once more after a 401: only with a cloud's token, and once
        (a token that expired on the way is renewed; a refused new one is the answer)."""
        if exc.status != 401 or self.auth is None or not self.auth.sends_token or renewed:
            return False
        self.auth.invalidate()
        return True

    def backoff(self, attempt, exc):
        """Sleep before the next attempt: RETRY_DELAYS[attempt], or the service's Retry-After if longer."""
        self.retries += 1
        time.sleep(min(max(RETRY_DELAYS[attempt], exc.retry_after or 0), MAX_RETRY_WAIT))

    def _request_once(self, method, path, body, headers, expect, stream):
        url = self.prefix + path
        conn = self._connection()
        hdrs = self._headers(headers)
        encode_chunked = False
        if body is not None and not isinstance(body, (bytes, str)):
            hdrs["Transfer-Encoding"] = "chunked"
            encode_chunked = True
        self.requests += 1
        try:
            conn.request(method, url, body=body, headers=hdrs, encode_chunked=encode_chunked)
            resp = conn.getresponse()
        except (OSError, http_client.HTTPException) as exc:
            conn.close()
            raise GlanceError("Glance at %s is unreachable (%s %s): %s" % (self.endpoint, method, path, exc),
                              method=method, url=self.endpoint + path, timed_out=isinstance(exc, TimeoutError))
        if resp.status not in expect:
            text = resp.read().decode("utf-8", "replace")
            conn.close()
            raise GlanceError("Glance %s %s answered %s %s: %s" % (method, path, resp.status, resp.reason,
                                                                   _short(text)),
                              method=method, url=self.endpoint + path, status=resp.status, body=text,
                              retry_after=_seconds(resp.getheader("Retry-After")))
        if stream:
            return resp, conn
        data = resp.read()
        conn.close()
        if not data:
            return None
        try:
            return json.loads(data.decode("utf-8"))
        except ValueError:
            return None

    # -- images --------------------------------------------------------------------------------
    def get_image(self, image_id, required=True):
        try:
            return self.request("GET", "/v2/images/%s" % quote(image_id, safe=""))
        except GlanceError as exc:
            if exc.status == 404 and not required:
                return None
            if exc.status == 404:
                raise GlanceError("There is no image %s in Glance at %s." % (image_id, self.endpoint),
                                  method="GET", url=self.endpoint, status=404)
            raise

    def list_images(self, **filters):
        """All images matching Glance's own filters (name=..., status=..., <property>=...), paged."""
        images = []
        query = dict((k, v) for k, v in filters.items() if v is not None)
        query.setdefault("limit", 100)
        path = "/v2/images?" + urlencode(query)
        while path:
            page = self.request("GET", path) or {}
            images.extend(page.get("images", []))
            nxt = page.get("next")
            path = nxt[len(self.prefix):] if nxt and self.prefix and nxt.startswith(self.prefix) else nxt
        return images

    def find_images(self, name=None, properties=None):
        """Images named ``name`` whose properties all have the given values."""
        props = dict((k, str(v)) for k, v in (properties or {}).items())
        found = self.list_images(name=name, **props)
        return [img for img in found if all(str(img.get(k)) == v for k, v in props.items())]

    def find_image(self, name, properties=None):
        """The one image named so (with the properties), None when none, an error when several."""
        found = self.find_images(name, properties)
        if len(found) > 1:
            raise NovaopsError("%d Glance images are named %r%s; pass the image ID." % (
                len(found), name, " with those properties" if properties else ""),
                image_ids=[img["id"] for img in found])
        return found[0] if found else None

    def create_image(self, name, disk_format="raw", container_format="bare", **fields):
        """Create an image record (queued); its id is chosen here unless given, so that a POST
        repeated after a transient failure cannot make a second image: it meets 409 instead."""
        body = dict(name=name, disk_format=disk_format, container_format=container_format)
        for key, value in fields.items():
            if value is not None:
                body[key] = value if key in BASE_FIELDS else str(value)
        body.setdefault("id", str(uuid.uuid4()))
        retries = self.retries
        try:
            return self.request("POST", "/v2/images", body=json.dumps(body),
                                headers={"Content-Type": "application/json"}, expect=(201,), retry=True)
        except GlanceError as exc:
            if exc.status != 409 or self.retries == retries:
                raise
            return self.get_image(body["id"])    # the first attempt did create it

    def update_properties(self, image_id, properties):
        ops = [dict(op="add", path="/%s" % key, value=str(value)) for key, value in properties.items()]
        return self.request("PATCH", "/v2/images/%s" % quote(image_id, safe=""), body=json.dumps(ops),
                            headers={"Content-Type": "application/openstack-images-v2.1-json-patch"})

    def delete_image(self, image_id, missing_ok=True):
        try:
            self.request("DELETE", "/v2/images/%s" % quote(image_id, safe=""), expect=(204,))
            return True
        except GlanceError as exc:
            if exc.status == 404 and missing_ok:
                return False
            raise

    def upload(self, image_id, source, verify=True, timeout=None):
        """Stream ``source`` (a path or a binary file object) into the image, chunked.

        Returns bytes, duration, checksum and os_hash_value of what was sent; with
        ``verify`` the image is re-read and its checksum/os_hash_value compared.
        """
        image = self.get_image(image_id)
        started = time.monotonic()
        own = isinstance(source, (str, bytes, os.PathLike))
        fileobj = open(source, "rb") if own else source
        try:
            first = fileobj.tell() if fileobj.seekable() else None
            attempt = 0
            renewed = False
            while True:
                hashes = _Hashes(image.get("os_hash_algo") or "sha512")
                try:
                    self._put_data(image_id, fileobj, hashes)
                    break
                except GlanceError as exc:
                    again = first is not None and self.renew_token(exc, renewed)
                    if not again and (first is None or not exc.transient or attempt >= len(RETRY_DELAYS)):
                        raise
                    if self.get_image(image_id).get("status") != "queued":
                        raise    # Glance kept (part of) the data: restarting could not make it whole
                    if again:
                        renewed = True
                    else:
                        self.backoff(attempt, exc)
                        attempt += 1
                    fileobj.seek(first)
        finally:
            if own:
                fileobj.close()
        result = hashes.result()
        if verify:
            image = self.wait_for_status(image_id, ("active",), timeout or self.timeout)
            result["verified_by"] = verify_image_data(image, result)
        result["duration"] = round(time.monotonic() - started, 3)
        result["image"] = image
        return result

    def _put_data(self, image_id, fileobj, hashes):
        """One streamed PUT of the file's data from where it stands, hashed on the way."""
        def chunks():
            while True:
                chunk = fileobj.read(self.chunk_size)
                if not chunk:
                    return
                hashes.update(chunk)
                yield chunk
        self.request("PUT", "/v2/images/%s/file" % quote(image_id, safe=""), body=chunks(),
                     headers={"Content-Type": "application/octet-stream"}, expect=(204, 201, 200))

    def download(self, image_id, dest, image=None, verify=True):
        """Stream the image's data to ``dest`` (a path, or a binary file open for writing, e.g. one made
        without following links); hashes checked against the record."""
        image = image or self.get_image(image_id)
        if image.get("status") != "active":
            raise NovaopsError("Image %s is %s, not active; it has no data to download." % (
                image_id, image.get("status")))
        hashes = _Hashes(image.get("os_hash_algo") or None)
        started = time.monotonic()
        resp, conn = self.request("GET", "/v2/images/%s/file" % quote(image_id, safe=""),
                                  headers={"Accept": "application/octet-stream"}, expect=(200,), stream=True)
        own = isinstance(dest, (str, bytes, os.PathLike))
        try:
            out = open(dest, "wb") if own else dest
            try:
                while True:
                    chunk = resp.read(self.chunk_size)
                    if not chunk:
                        break
                    hashes.update(chunk)
                    out.write(chunk)
            finally:
                if own:
                    out.close()
        except (OSError, http_client.HTTPException) as exc:
            raise NovaopsError("Downloading image %s to %s failed: %s" % (
                image_id, dest if own else getattr(dest, "name", "its file"), exc))
        finally:
            conn.close()
        result = hashes.result()
        if verify:
            result["verified_by"] = verify_image_data(image, result)
        result["duration"] = round(time.monotonic() - started, 3)
        return result

    def wait_for_status(self, image_id, wanted, timeout, interval=0.5):
        deadline = time.monotonic() + timeout
        while True:
            image = self.get_image(image_id)
            if image.get("status") in wanted:
                return image
            if image.get("status") in ("killed", "deleted", "deactivated") and image.get("status") not in wanted:
                raise NovaopsError("Image %s went %s." % (image_id, image.get("status")))
            if time.monotonic() >= deadline:
                what = "image %s to become %s (it is %s)" % (image_id, "/".join(wanted), image.get("status"))
                raise WaitTimeout(what, timeout)
            time.sleep(interval)


def _header_safe(value):
    """Whether the text can go into an HTTP header as it is (http.client refuses the rest)."""
    text = str(value)
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return text == text.strip() and all(char >= " " and char != "\x7f" for char in text)


def _seconds(value):
    """A Retry-After in seconds (its HTTP-date form is not worth honouring here), else None."""
    try:
        return max(float(value), 0.0)
    except (TypeError, ValueError):
        return None


def _short(text, limit=300):
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[:limit] + "..."

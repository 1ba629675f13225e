"""The HTTP handlers clients stream disks through: PUT /import_raw_vdi, GET /export_raw_vdi.

After xen-api's ocaml/xapi/import_raw_vdi.ml, export_raw_vdi.ml, xapi_http.ml (credentials,
tasks), importexport.ml (query arguments, formats), stream_vdi.ml (tar) and vhd-tool
(ocaml/vhd-tool/src/impl.ml: ``serve_raw_to_raw``, ``serve_chunked_to_raw``,
``serve_vhd_to_raw``; chunked.ml):

* Credentials: ``session_id`` (cookie, then query) or HTTP Basic auth; none valid: HTTP 401
  ``Unauthorised`` with ``WWW-Authenticate: Basic realm="<action>"``.
* Task: ``task_id`` names a task the handler completes or fails (left for the client to
  read and destroy); without it a task named ``Importing raw VDI`` / ``Exporting raw VDI`` is
  made, named in the ``task-id`` response header, and destroyed when the transfer ends.
  Import success: result ``<value>OpaqueRef:<vdi></value>``; export success: result ``""``.
* The 200 headers (``Connection: close``, ``task-id``) go out before the body is read or
  written; a failure after them shows only in the task (``VDI_IO_ERROR ['Device I/O errors']``
  for a stream that does not fit or ends early).  The export has no Content-Length: the body
  ends when the connection closes.
* ``vdi=`` a reference or a uuid; ``format=raw|vhd|tar`` (case-insensitive, default raw);
  unknown: HTTP 404, task ``INTERNAL_ERROR ['Unknown format <x>']``.
* Import raw: Content-Length bytes from offset 0 (without one, the VDI's virtual size);
  ``chunked`` in the query: vhd-tool's chunk protocol (12-byte little-endian header offset u64,
  length u32, then the data; offset 0 length 0 ends), raw only (else 404 ``Cannot handle
  chunked VHD``).  An HTTP ``Transfer-Encoding`` is refused: 404, ``Cannot handle encoding: <x>``.
  Import vhd: the sectors the stream's block bitmaps mark present.  Import tar: 1 MiB chunks
  ``vdi/%08d`` each with a ``.xxhash`` (or ``.checksum`` SHA-1) file, missing chunks are zeros.
  No ``vdi=``: ``sr_id``/``sr_uuid`` with a raw body of known length makes ``Imported VDI``.
* Export raw: every byte of the virtual disk; vhd: a dynamic VHD of the chain (``base=``: a
  differencing one against that VDI); tar: the 1 MiB chunks, all-zero ones left out except
  the first and the last.  Headers ``content-type`` and ``content-disposition: attachment;
  filename="<uuid>.<format>"``.

Writing never allocates what is zero where the VDI reads zeros already (sparse), and only
what differs from the VDI's chain is written.  The GC is held while a transfer runs.
"""

import base64
import hashlib
import logging
import struct
import tarfile
import time
import urllib.parse
from http.cookies import SimpleCookie

from .errors import XenAPIError
from .marshal import xml_value
from .vhd import VHD, VHDError
from .vhd.ops import write_changed
from .vhd.stream import StreamReader, export_stream, included_blocks
from .xxh64 import xxh64

log = logging.getLogger("xapisim.http_vdi")

MiB = 1 << 20
BLOCK = 2 * MiB                 # the unit raw data is read and written in
TAR_CHUNK = 1 * MiB             # stream_vdi.ml chunk_size
TAR_PREFIX = "vdi"              # Xapi_globs.vdi_tar_export_dir
CONTENT_TYPES = {"raw": "application/octet-stream", "vhd": "application/vhd", "tar": "application/x-tar"}
KNOWN_FORMATS = ("raw", "vhd", "tar", "qcow2")
DEVICE_IO = ("VDI_IO_ERROR", "Device I/O errors")
DRAIN_LIMIT = 64 * MiB          # the most of a refused HTTP-chunked body read before answering


class Unauthorised(Exception):
    pass


class Refused(Exception):
    """Answered with an HTTP error status; the task fails with ``error``."""

    def __init__(self, status, error):
        super().__init__(status, error)
        self.status = status
        self.error = error


class DeviceError(Exception):
    """What vhd-tool's failure becomes: the task fails with VDI_IO_ERROR ['Device I/O errors']."""


# --------------------------------------------------------------------- request
class Request:
    def __init__(self, h):
        self.h = h
        path, _, query = h.path.partition("?")
        self.path = path
        self.query = {}
        for k, v in urllib.parse.parse_qsl(query, keep_blank_values=True):
            self.query.setdefault(k, v)
        self.cookie = {}
        if h.headers.get("Cookie"):
            jar = SimpleCookie()
            try:
                jar.load(h.headers["Cookie"])
            except Exception:       # noqa: BLE001 - a malformed cookie is no cookie
                jar = {}
            self.cookie = {k: m.value for k, m in jar.items()}
        length = h.headers.get("Content-Length")
        self.length = int(length) if length and length.strip().isdigit() else None
        self.remaining = self.length
        self.consumed = 0

    def credential(self, name):
        """xapi_http.lookup_param_of_req: the cookie first, then the query."""
        return self.cookie.get(name, self.query.get(name))

    def arg(self, name):
        """importexport.ml: the query first, then the cookie."""
        return self.query.get(name, self.cookie.get(name))

    def has(self, name):
        return name in self.query or name in self.cookie

    # ---- the body
    def read(self, n):
        if self.remaining is not None:
            n = min(n, self.remaining)
        if n <= 0:
            return b""
        data = self.h.rfile.read(n)
        self.consumed += len(data)
        if self.remaining is not None:
            self.remaining -= len(data)
        return data

    def exactly(self, n):
        data = self.read(n)
        if len(data) < n:
            raise DeviceError("the body ended %d bytes early" % (n - len(data)))
        return data

    def drain(self):
        """Read what the client sent and we did not use, so that it reads our answer rather than
        a connection reset (a socket closed with unread data resets).  A body in HTTP chunked
        encoding, which is refused, is read up to DRAIN_LIMIT."""
        try:
            if self.remaining is None and "chunked" in (self.h.headers.get("Transfer-Encoding") or "").lower():
                self._drain_chunked()
            while self.remaining:
                if not self.read(min(self.remaining, BLOCK)):
                    break
        except (OSError, ValueError):
            pass

    def _drain_chunked(self):
        rfile, total = self.h.rfile, 0
        while total < DRAIN_LIMIT:
            size = int(rfile.readline(1024).split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while rfile.readline(1024).strip():      # trailer fields up to the empty line
                    pass
                return
            total += len(rfile.read(size + 2))


def _write_from(req, v, offset, end, progress=None):
    """Bytes [offset, end) of the VDI v from the request body, in pieces that do not cross a block
    (written only where they change it); ``progress`` gets the position after each piece."""
    while offset < end:
        n = min(BLOCK - offset % BLOCK, end - offset)
        write_changed(v, offset, req.exactly(n))
        offset += n
        if progress:
            progress(offset)


# ----------------------------------------------------------------------- tasks
class TaskScope:
    """The task a transfer reports to (TaskHelper.complete / failed: only a pending task changes)."""

    def __init__(self, sim, given, label):
        self.sim = sim
        st = sim.store
        with st.lock:
            if given:
                if not st.exists("task", given):
                    raise XenAPIError("HANDLE_INVALID", "task", given)
                self.ref, self.owned = given, False
            else:
                self.ref, self.owned = sim.dispatcher.new_task(label), True
        self.last = 0.0

    def _pending(self):
        st = self.sim.store
        return st.exists("task", self.ref) and st.get("task", self.ref)["status"] == "pending"

    def progress(self, fraction):
        now = time.monotonic()
        if now - self.last < 0.5:
            return
        self.last = now
        with self.sim.store.lock:
            if self._pending():
                self.sim.store.update("task", self.ref, progress=round(min(fraction, 0.99), 2))

    def complete(self, result=None):
        from .api import now_dt
        with self.sim.store.lock:
            if self._pending():
                changes = dict(status="success", progress=1.0, finished=now_dt(), allowed_operations=[])
                if result is not None:
                    changes["result"] = result
                self.sim.store.update("task", self.ref, **changes)

    def fail(self, desc):
        with self.sim.store.lock:
            if self._pending():
                self.sim.dispatcher._fail_task(self.ref, [str(x) for x in desc])

    def close(self):
        if self.owned:
            with self.sim.store.lock:
                if self.sim.store.exists("task", self.ref):
                    self.sim.store.delete("task", self.ref)


# -------------------------------------------------------------------- handlers
class Handlers:
    def __init__(self, sim):
        self.sim = sim

    # ---- credentials and responses
    def _authenticate(self, req):
        """(session, temporary): xapi_http.assert_credentials_ok / with_context."""
        sessions = self.sim.sessions
        sid = req.credential("session_id")
        if sid:
            try:
                sessions.check(sid)
            except XenAPIError:
                raise Unauthorised()
            return sid, False
        auth = req.h.headers.get("Authorization", "")
        if auth[:6].lower() == "basic ":
            try:
                user, _, pw = base64.b64decode(auth[6:].strip()).decode("utf-8").partition(":")
                return sessions.login(user, pw, "HTTP Basic auth"), True
            except (XenAPIError, ValueError, UnicodeDecodeError):
                raise Unauthorised()
        raise Unauthorised()

    @staticmethod
    def _headers(h, code, message, headers):
        h.send_response(code, message)
        h.send_header("Connection", "close")
        h.send_header("Cache-Control", "no-cache, no-store")
        for k, v in headers:
            h.send_header(k, v)
        h.end_headers()

    def _error_page(self, h, code, message, text, extra=()):
        body = ("<html><body><h1>HTTP %d %s</h1>%s</body></html>" % (code, message.lower(), text)).encode()
        self._headers(h, code, message, [("Content-Type", "text/html"), ("Content-Length", str(len(body)))]
                      + list(extra))
        h.wfile.write(body)

    def _unauthorised(self, h, realm):
        self._error_page(h, 401, "Unauthorised", "Please check your credentials and retry.",
                         [("WWW-Authenticate", 'Basic realm="%s"' % realm)])

    def _status(self, h, status):
        code, message = {400: (400, "Bad Request"), 404: (404, "Not Found")}.get(status, (500, "Internal Error"))
        self._error_page(h, code, message, "xapisim: the request was refused; see the task.")

    def _vdi_of(self, value):
        """importexport.vdi_of_req: a valid reference, else a uuid (UUID_INVALID)."""
        st = self.sim.store
        with st.lock:
            if st.exists("VDI", value):
                return value
            return st.by_uuid("VDI", value)

    @staticmethod
    def _format(req):
        fmt = (req.arg("format") or "raw").lower()
        if fmt not in KNOWN_FORMATS:
            raise Refused(404, XenAPIError("INTERNAL_ERROR", "Unknown format " + (req.arg("format") or "")))
        if fmt == "qcow2":
            raise Refused(404, XenAPIError("INTERNAL_ERROR", "xapisim: the qcow2 format is not simulated"))
        return fmt

    def _begin(self, h, realm, label):
        """Credentials and the task; None when the answer went out already."""
        req = Request(h)
        h.close_connection = True
        try:
            session, temporary = self._authenticate(req)
        except Unauthorised:
            req.drain()
            self._unauthorised(h, realm)
            return None
        try:
            task = TaskScope(self.sim, req.credential("task_id"), label)
        except XenAPIError as e:
            req.drain()
            self._error_page(h, 500, "Internal Error", "xapisim: %s" % " ".join(e.description))
            if temporary:
                self.sim.sessions.logout(session)
            return None
        return req, session, temporary, task

    def _end(self, session, temporary, task):
        task.close()
        if temporary:
            self.sim.sessions.logout(session)

    def _transfer(self, h, realm, label, work, xenapi_status, io_errors, drain):
        """One transfer as xapi answers it: ``work(h, req, task, answer)`` moves the bytes, calling
        ``answer(headers)`` to send the 200 (with the task's id) once it has checked the request.
        A refusal or API error before that answer is the HTTP status (``xenapi_status`` for an API
        error); after it, only the task says. ``drain``: read what the client still sends."""
        begun = self._begin(h, realm, label)
        if begun is None:
            return
        req, session, temporary, task = begun
        sent = []

        def answer(headers):
            self._headers(h, 200, "OK", [("task-id", task.ref)] + headers)
            sent.append(True)

        def failed(description, status=None):
            task.fail(description)
            if drain:
                req.drain()
            if status and not sent:
                self._status(h, status)

        try:
            work(h, req, task, answer)
        except Refused as r:
            failed(r.error.description, r.status)
        except XenAPIError as e:
            failed(e.description, xenapi_status)
        except io_errors as e:
            log.info("%s: %s", realm, e)
            failed(DEVICE_IO)
        except Exception as e:       # noqa: BLE001 - a bug fails the task, as xapi's would
            log.exception(realm)
            task.fail(["INTERNAL_ERROR", "%s: %s" % (type(e).__name__, e)])
        finally:
            self._end(session, temporary, task)

    # ---------------------------------------------------------------- import
    def import_raw_vdi(self, h):
        self._transfer(h, "put_import_raw_vdi", "Importing raw VDI", self._import, 400,
                       (DeviceError, VHDError, OSError, ValueError), drain=True)

    def _import(self, h, req, task, answer):
        fmt = self._format(req)
        chunked = req.has("chunked")
        if chunked and fmt != "raw":
            raise Refused(404, XenAPIError("INTERNAL_ERROR", "Cannot handle chunked VHD"))
        encoding = h.headers.get("Transfer-Encoding")
        if encoding:
            raise Refused(404, XenAPIError("INTERNAL_ERROR", "Cannot handle encoding: " + encoding))
        vdi = self._import_target(req, fmt)
        answer([("content-type", "application/octet-stream")])
        self._check_writable(vdi)
        with self.sim.gc.hold():
            self._receive(req, vdi, fmt, chunked, task)
        task.complete(xml_value(vdi))

    def _import_target(self, req, fmt):
        st = self.sim.store
        storage = self.sim.storage
        if req.arg("vdi"):
            vdi = self._vdi_of(req.arg("vdi"))
        else:
            sr = None
            with st.lock:
                if req.arg("sr_id"):
                    sr = req.arg("sr_id")
                    st.get("SR", sr)
                elif req.arg("sr_uuid"):
                    sr = st.by_uuid("SR", req.arg("sr_uuid"))
            if sr is None:
                raise Refused(400, XenAPIError("VDI_MISSING"))
            if fmt != "raw":
                what = "a VHD" if fmt == "vhd" else "a tar stream"
                raise Refused(400, XenAPIError("INTERNAL_ERROR", "Importing %s directly into an SR not yet supported"
                                               % what))
            if req.length is None or req.has("chunked"):
                raise Refused(400, XenAPIError("INTERNAL_ERROR", "Not enough info supplied to import"))
            with st.lock:
                vdi = storage.create_vdi(sr, {"name_label": "Imported VDI", "name_description": "",
                                              "virtual_size": req.length, "type": "user", "sharable": False,
                                              "read_only": False, "other_config": {}, "sm_config": {},
                                              "xenstore_data": {}, "tags": []})
        return vdi

    def _check_writable(self, vdi):
        """Attaching the VDI read-write to dom0 (Sm_fs_ops.with_block_attached_device) must be possible."""
        st = self.sim.store
        storage = self.sim.storage
        with st.lock:
            o = st.get("VDI", vdi)
            if not storage.is_file_sr(o["SR"]):
                raise XenAPIError("SR_OPERATION_NOT_SUPPORTED", o["SR"])
            for vbd in storage.attached_vbds(vdi):
                if st.get("VBD", vbd)["mode"] == "RW":
                    raise XenAPIError("VDI_IN_USE", vdi, "attach")

    def _receive(self, req, vdi, fmt, chunked, task):
        st = self.sim.store
        with st.lock:
            path = self.sim.storage.vdi_path(vdi)
            size = st.get("VDI", vdi)["virtual_size"]
        with VHD.open(path, writable=True) as v:
            v._levels()
            if fmt == "vhd":
                self._receive_vhd(req, v, size, task)
            elif fmt == "tar":
                self._receive_tar(req, v, size, task)
            elif chunked:
                self._receive_chunked(req, v, size, task)
            else:
                self._receive_raw(req, v, size, task)

    @staticmethod
    def _receive_raw(req, v, size, task):
        total = size if req.length is None else req.length
        if total > size:
            # vhd-tool's write past the end of the device fails; nothing is written here
            raise DeviceError("%d bytes do not fit a VDI of %d" % (total, size))
        _write_from(req, v, 0, total, lambda pos: task.progress(pos / total))

    @staticmethod
    def _receive_chunked(req, v, size, task):
        while True:
            offset, length = struct.unpack("<QI", req.exactly(12))
            if offset == 0 and length == 0:
                return
            if offset + length > size:
                raise DeviceError("chunk [%d, +%d) beyond the VDI's %d bytes" % (offset, length, size))
            _write_from(req, v, offset, offset + length)
            task.progress((offset + length) / size)

    @staticmethod
    def _receive_vhd(req, v, size, task):
        r = StreamReader(req.read)
        for start, data, runs in r.blocks():
            for s, e in runs:
                if start + e > size:
                    raise DeviceError("VHD data at byte %d beyond the VDI's %d bytes" % (start + e, size))
                write_changed(v, start + s, data if (s, e) == (0, len(data)) else memoryview(data)[s:e])
            task.progress((start + len(data)) / max(r.virtual_size, 1))
        r.finish()

    @staticmethod
    def _receive_tar(req, v, size, task):
        """stream_vdi.recv_all_vdi: chunks in increasing order, each followed by its checksum file,
        until the chunks reach the VDI's size."""
        tf = tarfile.open(fileobj=_Reader(req), mode="r|")
        first_len, last, reached, sums = None, -1, 0, {}
        for member in tf:
            name = member.name
            if not name.startswith(TAR_PREFIX + "/"):
                raise XenAPIError("INTERNAL_ERROR", "Invalid XVA file")
            data = tf.extractfile(member).read() if member.isfile() else b""
            suffix = name[len(TAR_PREFIX) + 1:]
            if suffix.endswith(".xxhash") or suffix.endswith(".checksum"):
                original, kind = name.rsplit(".", 1)
                got, want = data.decode("ascii", "replace"), sums.get((original, kind))
                if got != want:
                    raise XenAPIError("INTERNAL_ERROR", "Block %s checksum failed: original = %s; recomputed = %s"
                                      % (original, got, want))
                if reached >= size:
                    return
                continue
            if not suffix.isdigit() or int(suffix) <= last:
                raise XenAPIError("INTERNAL_ERROR", "Invalid XVA file")
            if first_len is None:
                first_len = len(data) or TAR_CHUNK
            last = int(suffix)
            offset = last * first_len
            if offset + len(data) > size:
                raise DeviceError("tar chunk %s beyond the VDI's %d bytes" % (name, size))
            sums[(name, "xxhash")] = "%016X" % xxh64(data)
            sums[(name, "checksum")] = hashlib.sha1(data).hexdigest()
            pos = 0
            while pos < len(data):
                n = min(BLOCK - (offset + pos) % BLOCK, len(data) - pos)
                write_changed(v, offset + pos, data[pos:pos + n])
                pos += n
            reached = offset + len(data)
            task.progress(reached / size)

    # ---------------------------------------------------------------- export
    def export_raw_vdi(self, h):
        self._transfer(h, "get_export_raw_vdi", "Exporting raw VDI", self._export, 500,
                       (DeviceError, VHDError, OSError), drain=False)

    def _export(self, h, req, task, answer):
        if not req.arg("vdi"):
            raise Refused(500, XenAPIError("INTERNAL_ERROR", "Missing vdi query parameter"))
        try:
            vdi = self._vdi_of(req.arg("vdi"))
        except XenAPIError as e:
            raise Refused(500, e)
        fmt = self._format(req)
        st = self.sim.store
        with st.lock:
            uuid = st.get("VDI", vdi)["uuid"]
        answer([("content-type", CONTENT_TYPES[fmt]),
                ("content-disposition", 'attachment; filename="%s.%s"' % (uuid, fmt))])
        with self.sim.gc.hold():
            with st.lock:
                if not self.sim.storage.is_file_sr(st.get("VDI", vdi)["SR"]):
                    raise XenAPIError("SR_OPERATION_NOT_SUPPORTED", st.get("VDI", vdi)["SR"])
                self.sim.storage.sync_helper(vdi)
                path = self.sim.storage.vdi_path(vdi)
            base_path = None
            if fmt != "tar" and req.arg("base"):
                base = self._vdi_of(req.arg("base"))
                with st.lock:
                    self.sim.storage.sync_helper(base)
                    base_path = self.sim.storage.vdi_path(base)
            send = {"raw": self._send_raw, "vhd": self._send_vhd, "tar": self._send_tar}[fmt]
            send(h.wfile, path, base_path, task)
        task.complete()

    @staticmethod
    def _send_raw(out, path, base_path, task):
        """Every byte; relative to a base only the blocks that differ carry data (vhd-format's raw_common)."""
        with VHD.open(path) as v:
            size = v.virtual_size
            if base_path:
                with VHD.open(base_path) as base:
                    wanted = set(included_blocks(v, base))
            else:
                wanted = None
            spb = BLOCK // 512
            for blk in range(-(-size // BLOCK)):
                start = blk * BLOCK
                n = min(BLOCK, size - start)
                a, b = blk * spb, -(-(start + n) // 512)
                if (wanted is None or blk in wanted) and v._chain_has_data(a, b):
                    data = v._read_sectors(a, b)
                    out.write(data if len(data) == n else memoryview(data)[:n])
                else:
                    out.write(_ZERO[:n])
                task.progress((start + n) / size)

    @staticmethod
    def _send_vhd(out, path, base_path, task):
        for piece in export_stream(path, base_path, blocks_done=lambda n, total: task.progress(n / total)):
            out.write(piece)

    @staticmethod
    def _send_tar(out, path, base_path, task):
        """stream_vdi.send_one: chunk files ``vdi/%08d`` each followed by ``vdi/%08d.xxhash``."""
        with VHD.open(path) as v:
            size = v.virtual_size
            last = -(-size // TAR_CHUNK) - 1
            for number in range(last + 1):
                start = number * TAR_CHUNK
                n = min(TAR_CHUNK, size - start)
                a, b = start // 512, -(-(start + n) // 512)
                data = bytes(v._read_sectors(a, b))[:n] if v._chain_has_data(a, b) else _ZERO[:n]
                if number in (0, last) or data != _ZERO[:n]:
                    name = "%s/%08d" % (TAR_PREFIX, number)
                    _tar_member(out, name, data)
                    _tar_member(out, name + ".xxhash", ("%016X" % xxh64(data)).encode())
                task.progress((start + n) / size)
            out.write(bytes(1024))       # the end of the archive: two zero blocks


_ZERO = bytes(BLOCK)


def _tar_member(out, name, data):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o400
    info.mtime = 0
    out.write(info.tobuf(format=tarfile.USTAR_FORMAT))
    out.write(data)
    pad = -len(data) % 512
    if pad:
        out.write(bytes(pad))


class _Reader:
    """A file object over the request body for tarfile's stream mode."""

    def __init__(self, req):
        self.req = req

    def read(self, n=-1):
        if n is None or n < 0:
            n = BLOCK
        return self.req.read(n)


def register(sim):
    handlers = Handlers(sim)
    sim.http_routes[("PUT", "/import_raw_vdi")] = handlers.import_raw_vdi
    sim.http_routes[("GET", "/export_raw_vdi")] = handlers.export_raw_vdi
    return handlers

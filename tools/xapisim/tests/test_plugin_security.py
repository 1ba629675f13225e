"""Issue 18, the dom0 half: the plugins run by a private simulator through host.call_plugin against
hostile input, with canaries outside every root that must stay unread, unchanged and present.

- An imported chain names nothing but itself: a base that declares a parent (another VDI of the
  SR, a file outside) or a locator vhd-util would not rewrite is refused, before any tool reads it.
- A staging root that is a link is refused, never followed, never deleted through.
- Unpacking writes at most the declared size (and what the SR has free); sparse members are refused.
- A hard-linked <uuid>.vhd is not sent; remove_from_sr keeps files that are VDIs; arguments match
  whole; integers have a maximum; URLs are shown without credentials; a private CA is usable.
"""

import errno
import gzip
import hashlib
import http.server
import io
import json
import os
import shutil
import ssl
import tarfile
import threading
import time
import uuid as uuidlib

import pytest

from conftest import QuietHandler, free_port, plugin_call, plugin_failure, plugin_pool_fixtures
from xapisim.testkit import MiB, layered_chain, pattern
from xapisim.vhd import VHD, create_differencing, create_dynamic
from xapisim.vhd import format as F

INSTANCE = "0d5c3f0e-7a7b-4c1e-9a55-6c0e2b9f4e11"
SECRET = "pw-S3CRET-never-shown"

pool, x = plugin_pool_fixtures("pool-security")


def call(x, plugin, fn, **args):
    return plugin_call(x, plugin, fn, **args)


def failure(x, plugin, fn, **args):
    return plugin_failure(x, plugin, fn, **args)


def sr_vhds(pool):
    return sorted(n for n in os.listdir(pool.sr_dir()) if n.endswith(".vhd"))


def staging_root(pool):
    return os.path.join(pool.sr_dir(), ".novaops-staging")


def tree(root):
    """Every path under root (root included) with its kind, size, inode, mtime and content hash."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [""] + dirnames + filenames:
            p = os.path.join(dirpath, name) if name else dirpath
            st = os.lstat(p)
            digest = None
            if os.path.isfile(p) and not os.path.islink(p):
                with open(p, "rb") as fh:
                    digest = hashlib.sha256(fh.read()).hexdigest()
            out[os.path.relpath(p, root)] = (st.st_mode, st.st_size, st.st_ino, st.st_mtime_ns, digest)
    return out


# ------------------------------------------------------------------------------ canaries

class Canaries:
    """A directory outside every root: a file that must keep its bytes and mtime, a VHD, and a FIFO
    that blocks whoever opens it to read - a watcher opens its write end without blocking, which
    only succeeds while a reader is there, and so notices (and releases) any reader."""

    def __init__(self, path):
        self.dir = path
        os.makedirs(path)
        with open(os.path.join(path, "precious"), "wb") as fh:
            fh.write(b"precious data, never to be read or changed\n")
        self.vhd = os.path.join(path, "foreign.vhd")
        create_dynamic(self.vhd, 4 * MiB).close()
        with VHD.open(self.vhd, writable=True) as v:
            v.write(0, pattern(7, 64 * 1024))
        self.fifo = os.path.join(path, "pipe.vhd")
        os.mkfifo(self.fifo, 0o600)
        self.opened = 0
        self.before = tree(path)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self):
        while not self._stop.is_set():
            try:
                fd = os.open(self.fifo, os.O_WRONLY | os.O_NONBLOCK)
            except OSError as exc:
                if exc.errno not in (errno.ENXIO, errno.ENOENT):
                    raise
                time.sleep(0.005)
                continue
            self.opened += 1
            os.close(fd)
            time.sleep(0.05)

    def check(self):
        self._stop.set()
        self._thread.join(5)
        assert self.opened == 0, "the FIFO canary was opened for reading"
        assert tree(self.dir) == self.before, "a canary changed"


@pytest.fixture
def canaries(tmp_path):
    c = Canaries(str(tmp_path / "canaries"))
    yield c
    c.check()


class StagedBytes:
    """The most bytes the SR's staging area held while a call ran (polled every few ms)."""

    def __init__(self, root):
        self.root = root
        self.most = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self):
        while not self._stop.is_set():
            total = 0
            for dirpath, _dirs, files in os.walk(self.root):
                for name in files:
                    try:
                        total += os.lstat(os.path.join(dirpath, name)).st_size
                    except OSError:
                        pass
            self.most = max(self.most, total)
            time.sleep(0.002)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(5)


# ------------------------------------------------------------------------------ a fake Glance

class _Glance(QuietHandler):
    protocol_version = "HTTP/1.1"
    payload = b""       # the image data
    record = {}         # over {status: active, size: len(payload)}
    puts = []           # [(bytes, md5)] of each PUT
    status = 204

    def do_GET(self):
        if self.path.endswith("/file"):
            self._answer(200, self.payload)
        else:
            self._answer(200, json.dumps(dict({"status": "queued" if self.puts == [] else "active",
                                               "size": len(self.payload)}, **self.record)).encode())

    def do_PUT(self):
        md5, n = hashlib.md5(), 0
        while True:
            size = int(self.rfile.readline().strip() or b"0", 16)
            if size == 0:
                self.rfile.readline()
                break
            data = self.rfile.read(size)
            md5.update(data)
            n += len(data)
            self.rfile.read(2)
        type(self).puts.append((n, md5.hexdigest()))
        self._answer(self.status, b"" if self.status == 204 else b"refused")


def serve(tls=None):
    handler = type("Handler", (_Glance,), {"puts": [], "record": {}})
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    srv.daemon_threads = True
    if tls:
        srv.socket = tls.wrap_socket(srv.socket, server_side=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, handler, "%s://127.0.0.1:%d" % ("https" if tls else "http", srv.server_address[1])


@pytest.fixture
def glance():
    srv, handler, url = serve()
    yield handler, url
    srv.shutdown()
    srv.server_close()


def tarball(members, compress=False):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz" if compress else "w", format=tarfile.GNU_FORMAT) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def download(x, pool, url, **extra):
    args = dict(sr_path=pool.sr_dir(), image_id="img-1", glance_url=url, headers="{}")
    args.update(extra)
    return args


# ------------------------------------------------------------------------------ crafted VHDs

def read(path):
    with open(path, "rb") as fh:
        return fh.read()


def encode(code, text):
    if code in (F.PLAT_MACX, F.PLAT_W2KU, F.PLAT_W2RU):
        return F.encode_locator(code, text)
    return text.encode("utf-8")


def differencing(path, parent, locators):
    """A differencing VHD child of ``parent`` (its UUID and name) whose locators say ``locators``:
    [(platform code, path)], in the slots create_differencing filled, then free ones."""
    create_differencing(path, parent).close()
    with VHD.open(path, writable=True) as v:
        h = v.header
        slots = [loc for loc in h.locators if loc.code != F.PLAT_NONE]
        spare = [loc for loc in h.locators if loc.code == F.PLAT_NONE]
        for i, (code, text) in enumerate(locators):
            payload = encode(code, text)
            if i < len(slots):
                loc = slots[i]
            else:                                 # a free slot: room inside the first locator's space
                loc = spare.pop(0)
                loc.data_offset = slots[0].data_offset + 512
                loc.data_space = 1
            loc.code = code
            loc.data_len = len(payload)
            os.pwrite(v._fd, payload.ljust(512, b"\0"), loc.data_offset)
        for loc in slots[len(locators):]:
            loc.code, loc.data_len, loc.data_offset, loc.data_space = F.PLAT_NONE, 0, 0, 0
        v._write_header()
    return read(path)


def dynamic_with_locator(path, code, text):
    """A dynamic VHD (a would-be base) carrying a non-empty parent locator naming ``text``."""
    create_dynamic(path, 4 * MiB).close()
    with VHD.open(path, writable=True) as v:
        v.write(0, pattern(3, 4096))
        payload = encode(code, text)
        offset = v.end_of_data
        loc = v.header.locators[0]
        loc.code, loc.data_space, loc.data_len, loc.data_offset = code, 1, len(payload), offset
        os.pwrite(v._fd, payload.ljust(512, b"\0"), offset)
        v._end = offset + 512
        v._write_header()
        v._write_footers()
    return read(path)


def victim_vdi(x, pool):
    """A VDI of the SR holding data: the disk another tenant owns."""
    sr = x.pool.get_default_SR(x.pool.get_all()[0])
    vdi = x.VDI.create({"name_label": "victim", "name_description": "", "SR": sr, "virtual_size": str(4 * MiB),
                        "type": "user", "sharable": False, "read_only": False, "other_config": {}})
    path = os.path.join(pool.sr_dir(), x.VDI.get_uuid(vdi) + ".vhd")
    with VHD.open(path, writable=True) as v:
        v.write(0, pattern(5, 128 * 1024))
    return path


def hostile_chain(case, tmp, victim, canaries):
    """[(name, bytes)] of a tarball whose headers name something outside the image."""
    tmp.mkdir()
    decoy = str(tmp / "decoy.vhd")                # a parent to build against, then renamed away
    create_dynamic(decoy, 4 * MiB).close()
    if case == "base names another VDI of the SR":
        # the base is a child of the victim: locators by absolute path and beside it once in the SR
        base = differencing(str(tmp / "b.vhd"), victim, [(F.PLAT_MACX, "./" + os.path.basename(victim)),
                                                         (F.PLAT_W2KU, victim)])
        leaf = differencing(str(tmp / "l.vhd"), str(tmp / "b.vhd"), [(F.PLAT_MACX, "./b.vhd")])
        return [("0.vhd", leaf), ("1.vhd", base)]
    if case == "single file names another VDI of the SR":
        return [("0.vhd", differencing(str(tmp / "b.vhd"), victim, [(F.PLAT_W2KU, victim),
                                                                     (F.PLAT_MACX, victim)]))]
    if case == "base names a FIFO outside":
        return [("0.vhd", differencing(str(tmp / "b.vhd"), decoy, [(F.PLAT_W2KU, canaries.fifo),
                                                                    (F.PLAT_MACX, canaries.fifo)]))]
    if case == "dynamic base with a Wi2k locator":
        base = dynamic_with_locator(str(tmp / "b.vhd"), F.PLAT_WI2K, canaries.fifo)
        leaf = differencing(str(tmp / "l.vhd"), decoy, [(F.PLAT_MACX, "./decoy.vhd")])
        return [("0.vhd", leaf), ("1.vhd", base)]
    if case == "child with an extra Wi2r locator":
        base = read(decoy)
        leaf = differencing(str(tmp / "l.vhd"), decoy, [(F.PLAT_MACX, "./decoy.vhd"),
                                                        (F.PLAT_WI2R, canaries.fifo)])
        return [("0.vhd", leaf), ("1.vhd", base)]
    raise AssertionError(case)


HOSTILE = ["base names another VDI of the SR", "single file names another VDI of the SR",
           "base names a FIFO outside", "dynamic base with a Wi2k locator", "child with an extra Wi2r locator"]


# ------------------------------------------------------------------------------ 1. chains

@pytest.mark.parametrize("case", HOSTILE)
def test_download_refuses_a_chain_that_names_files_outside_it(pool, x, glance, canaries, tmp_path, case):
    handler, url = glance
    victim = victim_vdi(x, pool)
    handler.payload = tarball(hostile_chain(case, tmp_path / "craft", victim, canaries))
    before, victim_before = sr_vhds(pool), (read(victim), os.stat(victim).st_mtime_ns)
    details = failure(x, "glance", "download_vhd", **download(x, pool, url))
    assert details[0] == "NOVAOPS_VHD_REFUSED", details
    assert sr_vhds(pool) == before
    assert (read(victim), os.stat(victim).st_mtime_ns) == victim_before
    assert not os.path.exists(staging_root(pool))


def test_move_vhds_into_sr_refuses_a_base_with_a_parent(pool, x, canaries, tmp_path):
    """The same check guards migration.move_vhds_into_sr (a staging dir rsync'd from another host)."""
    victim = victim_vdi(x, pool)
    stage = os.path.join(staging_root(pool), "instance" + INSTANCE)
    os.makedirs(stage)
    for name, data in hostile_chain("base names another VDI of the SR", tmp_path / "craft", victim, canaries):
        with open(os.path.join(stage, name), "wb") as fh:
            fh.write(data)
    before, victim_before = sr_vhds(pool), (read(victim), os.stat(victim).st_mtime_ns)
    details = failure(x, "migration", "move_vhds_into_sr", sr_path=pool.sr_dir(), instance_uuid=INSTANCE)
    assert details[0] == "NOVAOPS_VHD_REFUSED", details
    assert sr_vhds(pool) == before
    assert (read(victim), os.stat(victim).st_mtime_ns) == victim_before
    assert not os.path.exists(staging_root(pool))


def test_an_imported_chain_names_only_itself(pool, x, glance, tmp_path):
    """A sound chain made elsewhere (its locators name files of another directory) imports, and each
    file's every locator then names the next imported file, the base none."""
    handler, url = glance
    pool.sim("gc_stall", True)      # else the GC may coalesce the imported middle before it is looked at
    d = tmp_path / "made-elsewhere"
    d.mkdir()
    create_dynamic(str(d / "base.vhd"), 8 * MiB).close()
    with VHD.open(str(d / "base.vhd"), writable=True) as v:
        v.write(0, pattern(1, MiB))
    create_differencing(str(d / "mid.vhd"), str(d / "base.vhd")).close()
    with VHD.open(str(d / "mid.vhd"), writable=True) as v:
        v.write(MiB, pattern(2, 4096))
    create_differencing(str(d / "leaf.vhd"), str(d / "mid.vhd")).close()
    handler.payload = tarball([("0.vhd", read(str(d / "leaf.vhd"))), ("1.vhd", read(str(d / "mid.vhd"))),
                               ("2.vhd", read(str(d / "base.vhd")))])
    got = call(x, "glance", "download_vhd", **download(x, pool, url))
    chain = got["chain"]
    for i, vdi_uuid in enumerate(chain):
        with VHD.open(os.path.join(pool.sr_dir(), vdi_uuid + ".vhd")) as v:
            if i == len(chain) - 1:
                assert v.disk_type == "dynamic" and all(loc.code == F.PLAT_NONE for loc in v.header.locators)
                continue
            assert v.parent_uuid == chain[i + 1]
            names = [p for _plat, p in v.locator_paths()]
            assert names and all(os.path.normpath(p) == chain[i + 1] + ".vhd" for p in names), names
    with VHD.open(os.path.join(pool.sr_dir(), chain[0] + ".vhd")) as v:
        assert v.read(0, MiB) == pattern(1, MiB) and not v.hidden


# ------------------------------------------------------------------------------ 2. links at roots

@pytest.fixture
def linked_staging_root(pool, canaries, tmp_path):
    """<sr>/.novaops-staging is a link to a directory outside the SR holding what looks like a
    transfer (instance<uuid>/0.vhd)."""
    outside = str(tmp_path / "staging-elsewhere")
    inst = os.path.join(outside, "instance" + INSTANCE)
    os.makedirs(inst)
    create_dynamic(os.path.join(inst, "0.vhd"), 4 * MiB).close()
    with VHD.open(os.path.join(inst, "0.vhd"), writable=True) as v:
        v.write(0, pattern(9, 4096))
    os.symlink(outside, staging_root(pool))
    before = tree(outside)
    yield outside
    assert os.path.islink(staging_root(pool)), "the link was removed or replaced"
    assert os.readlink(staging_root(pool)) == outside
    assert tree(outside) == before, "something changed behind the link"
    os.unlink(staging_root(pool))


def test_a_staging_root_that_is_a_link_is_refused_never_followed(pool, x, glance, linked_staging_root, tmp_path):
    handler, url = glance
    pool.sim("gc_stall", True)
    _snap, chain, _data = layered_chain(x, pool.sr_dir())
    handler.payload = tarball([("0.vhd", read(os.path.join(pool.sr_dir(), chain[-1] + ".vhd")))])
    before = sr_vhds(pool)
    calls = [
        ("migration", "remove_staging", dict(sr_path=pool.sr_dir(), instance_uuid=INSTANCE)),
        ("migration", "move_vhds_into_sr", dict(sr_path=pool.sr_dir(), instance_uuid=INSTANCE)),
        ("migration", "move_vhds_into_sr", dict(sr_path=pool.sr_dir(), instance_uuid=INSTANCE,
                                                staging_root=staging_root(pool))),
        ("migration", "transfer_vhd", dict(sr_path=pool.sr_dir(), vdi_uuids=json.dumps(chain), instance_uuid=INSTANCE,
                                           host="127.0.0.1", port="1", dest_root="/images")),
        ("glance", "upload_vhd", dict(sr_path=pool.sr_dir(), vdi_uuids=json.dumps(chain), image_id="img-1",
                                      glance_url=url, headers="{}")),
        ("glance", "download_vhd", download(x, pool, url)),
    ]
    for plugin, fn, args in calls:
        details = failure(x, plugin, fn, **args)
        assert details[0] == "NOVAOPS_PATH_REFUSED", (fn, details)
        assert sr_vhds(pool) == before, fn
    assert handler.puts == []


# ------------------------------------------------------------------------------ 3. size caps

def gnu_sparse_tar(name, realsize):
    """A GNU sparse member: 512 stored bytes standing for ``realsize`` (the rest a hole)."""
    data = b"s" * 512
    info = tarfile.TarInfo(name)
    info.size = len(data)
    head = bytearray(info.tobuf(tarfile.GNU_FORMAT, "utf-8", "surrogateescape"))
    head[156:157] = tarfile.GNUTYPE_SPARSE

    def octal(n):
        return ("%011o" % n).encode() + b"\0"
    head[386:398], head[398:410] = octal(realsize - len(data)), octal(len(data))
    head[483:495] = octal(realsize)
    head[148:156] = b" " * 8
    head[148:156] = ("%06o\0 " % sum(head[:512])).encode()
    out = bytes(head[:512]) + data + b"\0" * 1024
    return out + b"\0" * (-len(out) % tarfile.RECORDSIZE)


def pax_sparse_tar(name, realsize):
    """A PAX (GNU.sparse 1.0) sparse member standing for ``realsize`` bytes."""
    payload = (b"1\n%d\n512\n" % (realsize - 512)).ljust(512, b"\0") + b"p" * 512
    info = tarfile.TarInfo("GNUSparseFile.0/" + name)
    info.size = len(payload)
    info.pax_headers = {"GNU.sparse.major": "1", "GNU.sparse.minor": "0", "GNU.sparse.name": name,
                        "GNU.sparse.realsize": str(realsize)}
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        tar.addfile(info, io.BytesIO(payload))
    return buf.getvalue()


def zeros_tar_gz(name, size):
    """A gzip bomb: ``size`` zero bytes as one member, a thousandth of that on the wire."""
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", compresslevel=9) as gz:
        info = tarfile.TarInfo(name)
        info.size = size
        gz.write(info.tobuf(tarfile.GNU_FORMAT, "utf-8", "surrogateescape"))
        block = bytes(MiB)
        for _ in range(size // MiB):
            gz.write(block)
        gz.write(b"\0" * (2 * tarfile.BLOCKSIZE))
    return buf.getvalue()


BOMB = 64 * MiB


@pytest.mark.parametrize("case", ["GNU sparse member", "PAX sparse member"])
def test_sparse_members_are_refused_unwritten(pool, x, glance, canaries, case):
    handler, url = glance
    handler.payload = (gnu_sparse_tar if case.startswith("GNU") else pax_sparse_tar)("0.vhd", BOMB)
    assert len(handler.payload) < 16 * 1024
    before = sr_vhds(pool)
    with StagedBytes(staging_root(pool)) as staged:
        details = failure(x, "glance", "download_vhd", **download(x, pool, url))
    assert details[0] == "NOVAOPS_BAD_TARBALL" and "sparse" in details[2], details
    assert staged.most == 0
    assert sr_vhds(pool) == before and not os.path.exists(staging_root(pool))


@pytest.mark.parametrize("declared", ["max_bytes", "none", "glance size", "SR free space"])
def test_unpacking_stops_at_the_declared_size(pool, x, glance, canaries, declared):
    """A gzip bomb (64 MiB of zeros in ~64 KiB), or a plain tarball longer than Glance says: never
    more than the declared size is written, and what was is removed."""
    handler, url = glance
    extra = {}
    if declared == "glance size":                 # an uncompressed tarball larger than its record says
        handler.payload = tarball([("0.vhd", bytes(4 * MiB))])
        handler.record = {"size": 256 * 1024}
        cap = 256 * 1024
    else:
        handler.payload = zeros_tar_gz("0.vhd", BOMB)
        assert len(handler.payload) < 256 * 1024
        cap = MiB
        if declared == "max_bytes":
            extra = dict(max_bytes=MiB)
        elif declared == "SR free space":
            extra = dict(max_bytes=2 ** 61)
            cap = 0
    before = sr_vhds(pool)
    with StagedBytes(staging_root(pool)) as staged:
        details = failure(x, "glance", "download_vhd", **download(x, pool, url, **extra))
    want = "NOVAOPS_IMAGE_SIZE_UNKNOWN" if declared == "none" else "NOVAOPS_IMAGE_TOO_LARGE"
    assert details[0] == want, details
    if declared == "SR free space":
        assert "free" in details[1]
    assert staged.most <= cap, staged.most
    assert sr_vhds(pool) == before and not os.path.exists(staging_root(pool))


def test_a_declared_size_that_fits_imports(pool, x, glance, tmp_path):
    handler, url = glance
    path = str(tmp_path / "plain.vhd")
    create_dynamic(path, 4 * MiB).close()
    with VHD.open(path, writable=True) as v:
        v.write(0, pattern(4, 4096))
    data = read(path)
    handler.payload = tarball([("0.vhd", data)], compress=True)
    got = call(x, "glance", "download_vhd", **download(x, pool, url, max_bytes=len(data)))
    assert len(got["chain"]) == 1 and got["vhd_bytes"] == len(data)
    details = failure(x, "glance", "download_vhd", **download(x, pool, url, max_bytes=len(data) - 1))
    assert details[0] == "NOVAOPS_IMAGE_TOO_LARGE", details


# ------------------------------------------------------------------------------ 4. the rest

def test_a_hard_linked_vhd_is_not_sent(pool, x, glance, canaries):
    """(a) <uuid>.vhd of the SR hard-linked to a file outside it: neither uploaded nor staged."""
    handler, url = glance
    vdi_uuid = str(uuidlib.uuid4())
    link = os.path.join(pool.sr_dir(), vdi_uuid + ".vhd")
    os.link(canaries.vhd, link)
    try:
        for plugin, fn, args in [
            ("glance", "upload_vhd", dict(sr_path=pool.sr_dir(), vdi_uuids=json.dumps([vdi_uuid]), image_id="img-1",
                                          glance_url=url, headers="{}")),
            ("migration", "transfer_vhd", dict(sr_path=pool.sr_dir(), vdi_uuids=json.dumps([vdi_uuid]),
                                               instance_uuid=INSTANCE, host="127.0.0.1", port="1")),
        ]:
            details = failure(x, plugin, fn, **args)
            assert details[0] == "NOVAOPS_PATH_REFUSED" and "hard links" in details[3], (fn, details)
        assert handler.puts == []
        assert not os.path.exists(staging_root(pool))
        assert os.stat(canaries.vhd).st_nlink == 2
    finally:
        os.unlink(link)


def test_a_link_of_another_running_transfer_is_no_stray_link(pool, x, glance):
    """A chain another transfer is staging (its link in <sr>/.novaops-staging/xfer-*/files) is sent;
    a second name anywhere else is not."""
    handler, url = glance
    pool.sim("gc_stall", True)
    _snap, chain, _data = layered_chain(x, pool.sr_dir())
    other = os.path.join(staging_root(pool), "xfer-0123456789abcdef", "files")
    os.makedirs(other)
    os.link(os.path.join(pool.sr_dir(), chain[-1] + ".vhd"), os.path.join(other, "1.vhd"))
    args = dict(sr_path=pool.sr_dir(), vdi_uuids=json.dumps(chain), image_id="img-1", glance_url=url, headers="{}")
    try:
        out = call(x, "glance", "upload_vhd", **args)
        assert handler.puts == [(out["bytes"], out["checksum"])]
        stray = os.path.join(staging_root(pool), "not-ours")
        os.makedirs(stray)
        os.link(os.path.join(pool.sr_dir(), chain[0] + ".vhd"), os.path.join(stray, "0.vhd"))
        details = failure(x, "glance", "upload_vhd", **args)
        assert details[0] == "NOVAOPS_PATH_REFUSED" and "hard links" in details[3], details
        assert len(handler.puts) == 1
    finally:
        shutil.rmtree(staging_root(pool))


def new_running_vm(x):
    tpl = x.VM.get_by_name_label("Debian Bookworm 12")[0]
    vm = x.VM.clone(tpl, "sec-dom0-running")
    x.VM.provision(vm)
    x.VM.start(vm, False, False)
    return vm


def test_remove_from_sr_keeps_files_that_are_vdis(pool, x):
    """(b) remove_from_sr of a running VM's disk (or any VDI of the pool) is refused, nothing removed."""
    vm = new_running_vm(x)
    vbd = [v for v in x.VM.get_VBDs(vm) if x.VBD.get_type(v) == "Disk"][0]
    assert x.VBD.get_currently_attached(vbd)
    attached = x.VDI.get_uuid(x.VBD.get_VDI(vbd))
    unscanned = str(uuidlib.uuid4())                 # a file moved in that no scan has seen
    create_dynamic(os.path.join(pool.sr_dir(), unscanned + ".vhd"), 4 * MiB).close()
    before = sr_vhds(pool)
    for chain in ([attached], [unscanned, attached]):
        details = failure(x, "migration", "remove_from_sr", sr_path=pool.sr_dir(), vdi_uuids=json.dumps(chain))
        assert details[0] == "NOVAOPS_VDI_IN_USE" and details[1] == attached, details
        assert sr_vhds(pool) == before
    assert x.VM.get_power_state(vm) == "Running"
    out = call(x, "migration", "remove_from_sr", sr_path=pool.sr_dir(), vdi_uuids=json.dumps([unscanned]))
    assert out["removed"] == [unscanned] and attached + ".vhd" in sr_vhds(pool)


def test_arguments_match_whole(pool, x, glance):
    """(c) a trailing newline is not part of any pattern."""
    _handler, url = glance
    nl = str(uuidlib.uuid4()) + "\n"
    up = dict(sr_path=pool.sr_dir(), vdi_uuids=json.dumps([str(uuidlib.uuid4())]), image_id="img-1",
              glance_url=url, headers="{}")
    xfer = dict(sr_path=pool.sr_dir(), vdi_uuids=json.dumps([str(uuidlib.uuid4())]), instance_uuid=INSTANCE,
                host="127.0.0.1", port="1")
    cases = [
        ("glance", "upload_vhd", up, "image_id", "img-1\n"),
        ("glance", "upload_vhd", up, "vdi_uuids", json.dumps([nl])),
        ("glance", "upload_vhd", up, "timeout", "30\n"),
        ("glance", "upload_vhd", up, "chunk_size", "65536\n"),
        ("glance", "upload_vhd", up, "headers", json.dumps({"X-Roles\n": "admin"})),
        ("glance", "download_vhd", download(x, pool, url), "uuid_stack", json.dumps([nl])),
        ("glance", "download_vhd", download(x, pool, url), "max_bytes", "1024\n"),
        ("migration", "transfer_vhd", xfer, "host", "127.0.0.1\n"),
        ("migration", "transfer_vhd", xfer, "user", "root\n"),
        ("migration", "transfer_vhd", xfer, "seq_num", "0\n"),
        ("migration", "transfer_vhd", xfer, "port", "22\n"),
        ("migration", "transfer_vhd", xfer, "bwlimit", "10\n"),
        ("migration", "transfer_vhd", xfer, "connect_timeout", "5\n"),
        ("migration", "transfer_vhd", xfer, "disk", "0\n"),
        ("migration", "transfer_vhd", xfer, "instance_uuid", INSTANCE + "\n"),
        ("migration", "move_vhds_into_sr", dict(sr_path=pool.sr_dir()), "instance_uuid", INSTANCE + "\n"),
        ("migration", "remove_staging", dict(sr_path=pool.sr_dir(), instance_uuid=INSTANCE), "disk", "1\n"),
    ]
    for plugin, fn, args, name, value in cases:
        details = failure(x, plugin, fn, **dict(args, **{name: value}))
        assert details[:2] == ["NOVAOPS_BAD_ARGUMENT", name], (fn, name, details)
    assert not os.path.exists(staging_root(pool))


def test_integers_have_a_maximum(pool, x, glance):
    """(d) 10**30 (or 5000 digits) is a clean refusal naming the argument, not a crash."""
    _handler, url = glance
    pool.sim("gc_stall", True)
    _snap, chain, _data = layered_chain(x, pool.sr_dir())
    up = dict(sr_path=pool.sr_dir(), vdi_uuids=json.dumps(chain), image_id="img-1", glance_url=url, headers="{}")
    xfer = dict(sr_path=pool.sr_dir(), vdi_uuids=json.dumps(chain), instance_uuid=INSTANCE, host="127.0.0.1",
                port="1")
    huge, longest = str(10 ** 30), "9" * 5000
    cases = [("glance", "upload_vhd", up, "timeout"), ("glance", "download_vhd", download(x, pool, url), "timeout"),
             ("glance", "upload_vhd", up, "chunk_size"), ("glance", "download_vhd", download(x, pool, url), "max_bytes"),
             ("migration", "transfer_vhd", xfer, "port"), ("migration", "transfer_vhd", xfer, "seq_num"),
             ("migration", "transfer_vhd", xfer, "bwlimit"), ("migration", "transfer_vhd", xfer, "connect_timeout")]
    for plugin, fn, args, name in cases:
        for value in (huge, longest):
            details = failure(x, plugin, fn, **dict(args, **{name: value}))
            assert details[:2] == ["NOVAOPS_BAD_ARGUMENT", name], (fn, name, details[:2])
    assert not os.path.exists(staging_root(pool))


def test_urls_are_shown_without_credentials(pool, x, glance):
    """(e) glance_url with user:password@ - unreachable, refused by Glance, or not http(s)."""
    handler, url = glance
    pool.sim("gc_stall", True)
    _snap, chain, _data = layered_chain(x, pool.sr_dir())
    handler.status = 403
    with_creds = url.replace("://", "://alice:%s@" % SECRET)
    unreachable = "http://alice:%s@127.0.0.1:%d" % (SECRET, free_port())
    outputs = []
    for fn, glance_url in [("upload_vhd", with_creds), ("upload_vhd", unreachable), ("download_vhd", unreachable),
                           ("upload_vhd", "ftp://alice:%s@127.0.0.1/x" % SECRET),
                           ("upload_vhd", "http://alice:%s@127.0.0.1:notaport/" % SECRET)]:
        details = failure(x, "glance", fn, sr_path=pool.sr_dir(), vdi_uuids=json.dumps(chain), image_id="img-1",
                          glance_url=glance_url, headers="{}")
        outputs.append(details)
        text = " ".join(details)
        assert SECRET not in text and "alice" not in text, details
        assert "127.0.0.1" in text, details
    assert outputs[0][0] == "NOVAOPS_GLANCE_UPLOAD_FAILED" and "403" in " ".join(outputs[0])
    assert [o[0] for o in outputs[1:]] == ["NOVAOPS_GLANCE_UNREACHABLE", "NOVAOPS_GLANCE_DOWNLOAD_FAILED",
                                           "NOVAOPS_BAD_ARGUMENT", "NOVAOPS_BAD_ARGUMENT"]


@pytest.fixture
def private_ca_glance(pool):
    """A Glance on HTTPS whose certificate a private CA signed (the pool's test CA)."""
    ca_dir = os.path.dirname(pool.ca)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(os.path.join(ca_dir, "server.pem"), os.path.join(ca_dir, "server.key"))
    srv, handler, url = serve(tls)
    with open(pool.ca) as fh:
        pem = fh.read()
    yield handler, url, pem
    srv.shutdown()
    srv.server_close()


def test_a_glance_behind_a_private_ca(pool, x, private_ca_glance):
    """(f) ca_cert (PEM content) verifies it; without it the certificate is refused; validate_certs
    false still connects; ca_cert that is no PEM is a bad argument."""
    handler, url, pem = private_ca_glance
    pool.sim("gc_stall", True)
    _snap, chain, _data = layered_chain(x, pool.sr_dir())
    args = dict(sr_path=pool.sr_dir(), vdi_uuids=json.dumps(chain), image_id="img-1", glance_url=url, headers="{}")
    details = failure(x, "glance", "upload_vhd", **args)
    assert details[0] == "NOVAOPS_GLANCE_UNREACHABLE" and "CERTIFICATE_VERIFY_FAILED" in details[2], details
    out = call(x, "glance", "upload_vhd", ca_cert=pem, **args)
    assert handler.puts[-1] == (out["bytes"], out["checksum"])
    out = call(x, "glance", "upload_vhd", validate_certs="false", **args)
    assert handler.puts[-1] == (out["bytes"], out["checksum"]) and len(handler.puts) == 2
    details = failure(x, "glance", "upload_vhd", ca_cert="-----BEGIN CERTIFICATE-----\nAAAA\n", **args)
    assert details[:2] == ["NOVAOPS_BAD_ARGUMENT", "ca_cert"], details
    # the image data back, over the same verified connection
    handler.payload = tarball([("0.vhd", read(os.path.join(pool.sr_dir(), chain[-1] + ".vhd")))])
    got = call(x, "glance", "download_vhd", sr_path=pool.sr_dir(), image_id="img-1", glance_url=url,
               headers="{}", ca_cert=pem)
    assert len(got["chain"]) == 1

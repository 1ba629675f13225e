"""PUT /import_raw_vdi and GET /export_raw_vdi: disks streamed over HTTP(S), as xapi serves them.

Where xen-api (xapi-project/xen-api) defines what is checked here:
ocaml/xapi/import_raw_vdi.ml (``localhost_handler``), ocaml/xapi/export_raw_vdi.ml
(``localhost_handler``), ocaml/xapi/xapi_http.ml (``assert_credentials_ok``, ``with_context``:
session or Basic auth, ``task_id``), ocaml/xapi/importexport.ml (``vdi_of_req``,
``base_vdi_of_req``, ``sr_of_req``, ``Format``), ocaml/xapi/stream_vdi.ml (tar chunks),
ocaml/vhd-tool/src/impl.ml (``serve_raw_to_raw``, ``serve_chunked_to_raw``,
``serve_vhd_to_raw``) and chunked.ml, the vhd-format library's ``Vhd_input.vhd``
(``include_block``) for the VHD a ``format=vhd`` export carries, and
ocaml/libs/http-lib/http.ml, http_svr.ml for the status lines.
"""

import http.client
import io
import os
import shutil
import ssl
import struct
import subprocess
import tarfile
import urllib.parse

import pytest

from conftest import failure, wait_task
from xapisim.testkit import file_sha256, layered_chain, pattern
from xapisim.vhd import VHD, create_differencing, create_dynamic
from xapisim.xxh64 import xxh64_python

MiB = 1 << 20


# ---------------------------------------------------------------------- helpers
def connection(sim, secure=False):
    u = urllib.parse.urlsplit(sim.https if secure else sim.url)
    if secure:
        return http.client.HTTPSConnection(u.hostname, u.port, context=ssl.create_default_context(cafile=sim.ca),
                                           timeout=120, blocksize=MiB)
    return http.client.HTTPConnection(u.hostname, u.port, timeout=120, blocksize=MiB)


def request(sim, method, path, query, body=None, headers=None, secure=False, out=None, chunked=False):
    """(status, {header: value} lower-cased, body bytes or the number of bytes written to ``out``)."""
    c = connection(sim, secure)
    target = path + "?" + urllib.parse.urlencode(query) if query else path
    hdrs = dict(headers or {})
    if body is not None and not chunked and "Content-Length" not in hdrs:
        hdrs["Content-Length"] = str(os.fstat(body.fileno()).st_size if hasattr(body, "fileno") else len(body))
    c.request(method, target, body=body, headers=hdrs, encode_chunked=chunked)
    r = c.getresponse()
    got = {k.lower(): v for k, v in r.getheaders()}
    if out is None:
        data = r.read()
    else:
        data = 0
        while True:
            piece = r.read(MiB)
            if not piece:
                break
            out.write(piece)
            data += len(piece)
    c.close()
    return r.status, got, data


def put(sim, x, vdi, body, fmt="raw", secure=False, **extra):
    query = {"vdi": vdi, "session_id": x_session(x), "format": fmt}
    query.update(extra)
    return request(sim, "PUT", "/import_raw_vdi", query, body=body, secure=secure)


def get(sim, x, vdi, fmt="raw", secure=False, out=None, **extra):
    query = {"vdi": vdi, "session_id": x_session(x), "format": fmt}
    query.update(extra)
    return request(sim, "GET", "/export_raw_vdi", query, secure=secure, out=out)


class Client:
    """``session.xenapi`` that also knows its session reference (for the HTTP query)."""

    def __init__(self, session):
        self._s = session

    @property
    def sid(self):
        return self._s._session

    def __getattr__(self, name):
        return getattr(self._s.xenapi, name)


def x_session(x):
    return x.sid


@pytest.fixture
def xs(session):
    return Client(session)


def sr_of(x):
    return x.pool.get_default_SR(x.pool.get_all()[0])


def new_vdi(x, size, name="http-disk"):
    return x.VDI.create({"name_label": name, "name_description": "", "SR": sr_of(x), "virtual_size": str(size),
                         "type": "user", "sharable": False, "read_only": False, "other_config": {}})


def leaf(sim, x, vdi):
    return os.path.join(sim.sr_dir(), x.VDI.get_uuid(vdi) + ".vhd")


def allocated_blocks(path):
    with VHD.open(path) as v:
        return v.allocated_blocks()


def disk_bytes(blocks):
    """Blocks of 2 MiB: 'd' data (its index as seed), '0' zeros."""
    return b"".join(pattern(i + 1, 2 * MiB) if b == "d" else bytes(2 * MiB) for i, b in enumerate(blocks))


VHD_UTIL = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bin", "vhd-util")


def vhd_util_check(path, parents=False):
    """The project's blktap-compatible ``vhd-util check`` (structure, checksums, batmap, locators)."""
    argv = [VHD_UTIL, "check", "-n", path] + (["-p"] if parents else [])
    out = subprocess.run(argv, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def vhdiinfo(path):
    tool = shutil.which("vhdiinfo")
    if not tool:
        pytest.skip("vhdiinfo (Debian libvhdi-utils) is not installed")
    out = subprocess.run([tool, path], capture_output=True, text=True, check=True).stdout
    info = {}
    for line in out.splitlines():
        if ":" in line:
            k, _, v = line.partition(":")
            info[k.strip()] = v.strip()
    return info


# ------------------------------------------------------------------------ raw
def test_import_raw_then_export_raw_with_a_task_of_the_client(sim, xs):
    """import_raw_vdi.ml: the 200 headers carry ``task-id``; a ``task_id`` the client made is
    completed with ``API.rpc_of_ref_VDI vdi`` as result (``TaskHelper.complete``) and left to the
    client.  vhd-tool ``serve_raw_to_raw`` writes Content-Length bytes from offset 0."""
    x = xs
    vdi = new_vdi(x, 10 * MiB)
    data = disk_bytes("d0d0") + pattern(9, MiB)          # 9 MiB: a partial last block
    task = x.task.create("upload", "")
    status, headers, _ = put(sim, x, vdi, data, task_id=task)
    assert status == 200 and headers["task-id"] == task and headers["connection"] == "close"
    rec = wait_task(x, task)
    assert rec["status"] == "success" and rec["result"] == "<value>%s</value>" % vdi
    x.task.destroy(task)
    status, headers, body = get(sim, x, vdi)
    assert status == 200 and headers["content-type"] == "application/octet-stream"
    assert headers["content-disposition"] == 'attachment; filename="%s.raw"' % x.VDI.get_uuid(vdi)
    assert "content-length" not in headers          # the body ends when the connection closes
    assert body == data + bytes(MiB)
    # sparse: the zero blocks were never allocated in the leaf
    assert allocated_blocks(leaf(sim, x, vdi)) == [0, 2, 4]


def test_handlers_own_task_goes_when_the_transfer_ends(sim, xs):
    """xapi_http.ml ``with_context``: without ``task_id`` the handler runs in
    ``exec_with_new_task label`` whose context destroys the task at the end
    (context.ml ``destroy``: ``__destroy_task`` when not forwarded)."""
    x = xs
    vdi = new_vdi(x, 2 * MiB)
    status, headers, _ = put(sim, x, vdi, pattern(3, 2 * MiB))
    assert status == 200
    assert failure(x.task.get_record, headers["task-id"]) == ["HANDLE_INVALID", "task", headers["task-id"]]
    assert get(sim, x, x.VDI.get_uuid(vdi))[2] == pattern(3, 2 * MiB)      # vdi= takes a uuid too


def test_raw_stream_longer_than_the_vdi_is_refused(sim, xs):
    """vhd-tool ``serve_raw_to_raw`` writes ``--destination-size`` = Content-Length bytes; past the
    device's end the write fails, vhd-tool exits non-zero and vhd_tool_wrapper.ml raises
    VDI_IO_ERROR ['Device I/O errors'] into the task, after the 200 headers."""
    x = xs
    vdi = new_vdi(x, 4 * MiB)
    task = x.task.create("too long", "")
    status, _, _ = put(sim, x, vdi, pattern(4, 4 * MiB + 512), task_id=task)
    assert status == 200
    rec = wait_task(x, task)
    assert rec["status"] == "failure" and rec["error_info"] == ["VDI_IO_ERROR", "Device I/O errors"]
    assert allocated_blocks(leaf(sim, x, vdi)) == []


def test_chunked_query_argument_is_vhd_tools_chunk_protocol(sim, xs):
    """import_raw_vdi.ml: ``chunked`` in the query makes ``Vhd_tool_wrapper.receive "raw"
    "chunked"``; vhd-tool chunked.ml: a header of offset (u64) and length (u32), little-endian,
    before each piece of data; offset 0 with length 0 ends the stream (``serve_chunked_to_raw``)."""
    x = xs
    vdi = new_vdi(x, 8 * MiB)
    a, b = pattern(5, 3 * MiB), pattern(6, 4096)
    body = struct.pack("<QI", 1 * MiB, len(a)) + a + struct.pack("<QI", 7 * MiB, len(b)) + b + \
        struct.pack("<QI", 0, 0)
    assert put(sim, x, vdi, body, chunked="true")[0] == 200
    got = get(sim, x, vdi)[2]
    assert got[MiB:4 * MiB] == a and got[7 * MiB:7 * MiB + 4096] == b
    assert got[:MiB] == bytes(MiB) and got[4 * MiB:7 * MiB] == bytes(3 * MiB)
    assert allocated_blocks(leaf(sim, x, vdi)) == [0, 1, 3]


def test_refusals_with_their_status_and_task_error(sim, xs):
    """import_raw_vdi.ml: an unknown format, ``chunked`` with a VHD, and any HTTP
    Transfer-Encoding are answered ``Http.http_404_missing`` and fail the task with
    INTERNAL_ERROR ['Unknown format <x>'], ['Cannot handle chunked VHD'],
    ['Cannot handle encoding: <x>']."""
    x = xs
    vdi = new_vdi(x, 2 * MiB)
    cases = [({"format": "qed"}, False, ["INTERNAL_ERROR", "Unknown format qed"]),
             ({"format": "vhd", "chunked": "true"}, False, ["INTERNAL_ERROR", "Cannot handle chunked VHD"]),
             ({"format": "raw"}, True, ["INTERNAL_ERROR", "Cannot handle encoding: chunked"])]
    for query, http_chunked, error in cases:
        task = x.task.create("refused", "")
        q = {"vdi": vdi, "session_id": x_session(x), "task_id": task}
        q.update(query)
        body = iter([pattern(7, 4096)]) if http_chunked else pattern(7, 4096)
        status, _, _ = request(sim, "PUT", "/import_raw_vdi", q, body=body, chunked=http_chunked)
        assert status == 404, query
        rec = wait_task(x, task)
        assert rec["status"] == "failure" and rec["error_info"] == error
    assert allocated_blocks(leaf(sim, x, vdi)) == []
    status, _, _ = request(sim, "PUT", "/import_raw_vdi", {"session_id": x_session(x)}, body=b"x" * 512)
    assert status == 400                                 # neither vdi nor sr: VDI_MISSING
    status, _, _ = request(sim, "GET", "/export_raw_vdi", {"session_id": x_session(x)})
    assert status == 500                                 # failwith "Missing vdi query parameter"


def test_credentials_session_or_basic_auth(sim, xs):
    """xapi_http.ml ``assert_credentials_ok``: ``session_id`` (cookie or query) or an HTTP Basic
    ``Authorization``; otherwise ``Http.Unauthorised realm``, answered by http_svr.ml
    ``response_unauthorised``: 401 with ``WWW-Authenticate: Basic realm="<action>"``."""
    x = xs
    vdi = new_vdi(x, 2 * MiB)
    status, headers, _ = request(sim, "GET", "/export_raw_vdi", {"vdi": vdi, "session_id": "OpaqueRef:nope"})
    assert status == 401 and headers["www-authenticate"] == 'Basic realm="get_export_raw_vdi"'
    status, headers, _ = request(sim, "PUT", "/import_raw_vdi", {"vdi": vdi}, body=b"\0" * 512)
    assert status == 401 and headers["www-authenticate"] == 'Basic realm="put_import_raw_vdi"'
    import base64
    good = base64.b64encode(("%s:%s" % (sim.user, sim.password)).encode()).decode()
    bad = base64.b64encode(b"root:wrong").decode()
    status, _, _ = request(sim, "PUT", "/import_raw_vdi", {"vdi": vdi}, body=pattern(8, 2 * MiB),
                           headers={"Authorization": "Basic " + good})
    assert status == 200
    assert request(sim, "GET", "/export_raw_vdi", {"vdi": vdi}, headers={"Authorization": "Basic " + bad})[0] == 401
    status, _, body = request(sim, "GET", "/export_raw_vdi", {"vdi": vdi},
                              headers={"Cookie": "session_id=%s" % x_session(x)})
    assert status == 200 and body == pattern(8, 2 * MiB)


# ------------------------------------------------------------------------ vhd
def test_vhd_stream_in_is_parsed_and_written_sparsely(sim, xs, tmp_path):
    """import_raw_vdi.ml ``format=vhd`` -> vhd-tool ``serve_vhd_to_raw``: the stream is parsed and
    only its blocks are written; a block holding zeros over a VDI of zeros allocates nothing."""
    x = xs
    src = str(tmp_path / "in.vhd")
    with create_dynamic(src, 12 * MiB) as v:
        v.write(0, pattern(1, 2 * MiB))
        v.write(2 * MiB, bytes(2 * MiB))                 # allocated in the stream, but zeros
        v.write(6 * MiB + 4096, pattern(2, 8192))        # a partial block: sectors present
        want = v.read(0, 12 * MiB)
    vdi = new_vdi(x, 12 * MiB)
    with open(src, "rb") as fh:
        status, _, _ = put(sim, x, vdi, fh, fmt="vhd")
    assert status == 200
    assert get(sim, x, vdi)[2] == want
    assert allocated_blocks(leaf(sim, x, vdi)) == [0, 3]


def test_vhd_export_of_a_chain_leaf_is_a_dynamic_vhd_with_the_chains_data(sim, xs, tmp_path):
    """export_raw_vdi.ml ``format=vhd`` -> Vhd_tool_wrapper.send -> vhd-format ``Vhd_input.vhd``
    with ``from = None``: a Dynamic_hard_disk carrying every block ``in_any_bat`` of the chain,
    each whole (all bitmap bits set), read through the chain."""
    x = xs
    sim.sim("gc_stall", True)
    snap, chain, data = layered_chain(x, sim.sr_dir(), size=8 * MiB, name="chain")
    assert len(chain) >= 2
    out = str(tmp_path / "export.vhd")
    with open(out, "wb") as fh:
        status, headers, n = get(sim, x, snap, fmt="vhd", out=fh)
    assert status == 200 and headers["content-type"] == "application/vhd" and n == os.path.getsize(out)
    with VHD.open(out) as v:
        assert v.disk_type == "dynamic" and v.virtual_size == 8 * MiB
        assert v.read(0, 8 * MiB) == data
        assert v.allocated_blocks() == [0, 1]
    info = vhdiinfo(out)
    assert info["Disk type"] == "Dynamic" and "(8388608 bytes)" in info["Media size"]
    vhd_util_check(out)


def test_base_gives_a_differencing_export(sim, xs, tmp_path):
    """importexport.ml ``base_vdi_of_req``; export_raw_vdi.ml passes it as ``relative_to``;
    vhd-format ``Vhd_input.vhd ~from``: a Differencing_hard_disk whose parent is the base
    (``parent_unique_id`` its uid) holding the blocks allocated in the files one chain has and
    the other has not.  Imported into a copy of the base it gives the leaf's disk."""
    x = xs
    sim.sim("gc_stall", True)
    vdi = new_vdi(x, 8 * MiB, "based")
    with VHD.open(leaf(sim, x, vdi), writable=True) as v:
        v.write(0, pattern(1, 6 * MiB))
    base = x.VDI.snapshot(vdi, {})
    with VHD.open(leaf(sim, x, vdi), writable=True) as v:
        v.write(2 * MiB + 512, pattern(2, 1024))
    with VHD.open(leaf(sim, x, vdi)) as v:
        want = v.read(0, 8 * MiB)
    diff = str(tmp_path / "diff.vhd")
    with open(diff, "wb") as fh:
        assert get(sim, x, vdi, fmt="vhd", out=fh, base=base)[0] == 200
    base_uuid = x.VDI.get_uuid(base)
    with VHD.open(diff) as v:
        assert v.disk_type == "differencing" and v.parent_uuid == base_uuid
        assert v.allocated_blocks() == [1]
    # beside the base's own flat export under its uuid, the diff reads as the leaf (that export
    # has a fresh footer uuid, as vhd-format's Footer.create gives it: the chain is by file name)
    with open(str(tmp_path / (base_uuid + ".vhd")), "wb") as fh:
        assert get(sim, x, base, fmt="vhd", out=fh)[0] == 200
    with VHD.open(diff) as v:
        assert v.read(0, 8 * MiB) == want
    info = vhdiinfo(diff)
    assert info["Disk type"] == "Differential" and info["Parent identifier"] == base_uuid
    # the incremental restore: the diff streamed into a copy of the base
    restored = x.VDI.copy(base, sr_of(x))
    with open(diff, "rb") as fh:
        assert put(sim, x, restored, fh, fmt="vhd")[0] == 200
    assert get(sim, x, restored)[2] == want


# ------------------------------------------------------------------------ tar
def test_tar_export_and_import(sim, xs):
    """stream_vdi.ml ``send_one``: 1 MiB chunks ``vdi/%08d``, the first and the last always, an
    all-zero one left out, each followed by ``vdi/%08d.xxhash`` holding ``%016LX`` of its XXH64;
    ``recv_all_vdi`` reads them back, missing chunks being zeros, checksums verified."""
    x = xs
    vdi = new_vdi(x, 6 * MiB)
    data = pattern(1, MiB) + bytes(3 * MiB) + pattern(2, MiB) + bytes(MiB)
    assert put(sim, x, vdi, data)[0] == 200
    status, headers, body = get(sim, x, vdi, fmt="tar")
    assert status == 200 and headers["content-type"] == "application/x-tar"
    names, sums = [], {}
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:") as tf:
        for m in tf:
            names.append(m.name)
            content = tf.extractfile(m).read()
            if m.name.endswith(".xxhash"):
                assert content.decode() == sums[m.name[:-len(".xxhash")]]
            else:
                assert content == data[int(m.name[4:]) * MiB:][:MiB]
                sums[m.name] = "%016X" % xxh64_python(content)
    assert names == ["vdi/00000000", "vdi/00000000.xxhash", "vdi/00000004", "vdi/00000004.xxhash",
                     "vdi/00000005", "vdi/00000005.xxhash"]
    copy = new_vdi(x, 6 * MiB, "from-tar")
    assert put(sim, x, copy, body, fmt="tar")[0] == 200
    assert get(sim, x, copy)[2] == data
    assert allocated_blocks(leaf(sim, x, copy)) == [0, 2]
    # a corrupted chunk fails the import's task
    bad = bytearray(body)
    bad[512 + 100] ^= 0xFF
    task = x.task.create("tar", "")
    assert put(sim, x, new_vdi(x, 6 * MiB), bytes(bad), fmt="tar", task_id=task)[0] == 200
    rec = wait_task(x, task)
    assert rec["status"] == "failure" and rec["error_info"][0] == "INTERNAL_ERROR"
    assert "checksum failed" in rec["error_info"][1]


def test_xxh64_reference_values():
    """The xxHash specification's XXH64 (seed 0): the empty input and the values the xxhash
    project publishes, so that tar checksums match xapi's ``XXHash.XXH64.hash``."""
    assert xxh64_python(b"") == 0xEF46DB3751D8E999
    assert xxh64_python(b"a") == 0xD24EC4F1A98C6E5B
    assert xxh64_python(b"abc") == 0x44BC2CF5AD770999
    assert xxh64_python(b"Nobody inspects the spammish repetition") == 0xFBCEA83C8A378BF1


# ---------------------------------------------------------------------- https
def test_handlers_on_the_https_port(sim, xs):
    """xapi serves the same handlers on its HTTPS port (stunnel in front of the same server)."""
    x = xs
    vdi = new_vdi(x, 4 * MiB)
    data = pattern(11, 3 * MiB)
    assert put(sim, x, vdi, data, secure=True)[0] == 200
    assert get(sim, x, vdi, secure=True)[2] == data + bytes(MiB)


# ---------------------------------------------------------------- 256 MiB, real bytes
def test_256_mib_round_trips_in_raw_and_vhd(sim, xs, tmp_path):
    """The whole path with a disk of 256 MiB: raw in, raw out byte for byte; VHD out (read by
    vhdiinfo and by our library), VHD back in to a new VDI, raw out byte for byte; the VHD
    streamed in allocates only the blocks that hold data."""
    x = xs
    size = 256 * MiB
    src = str(tmp_path / "src.raw")
    layout = []
    with open(src, "wb") as fh:
        for i in range(size // (2 * MiB)):
            kind = "d" if i % 3 != 1 else "0"       # a third of the blocks are zeros
            layout.append(kind)
            fh.write(os.urandom(2 * MiB) if kind == "d" else bytes(2 * MiB))
    want = file_sha256(src)
    vdi = new_vdi(x, size, "big")
    with open(src, "rb") as fh:
        assert put(sim, x, vdi, fh)[0] == 200
    data_blocks = [i for i, k in enumerate(layout) if k == "d"]
    assert allocated_blocks(leaf(sim, x, vdi)) == data_blocks

    raw_out = str(tmp_path / "out.raw")
    with open(raw_out, "wb") as fh:
        assert get(sim, x, vdi, out=fh)[0] == 200
    assert os.path.getsize(raw_out) == size and file_sha256(raw_out) == want

    vhd_out = str(tmp_path / "out.vhd")
    with open(vhd_out, "wb") as fh:
        assert get(sim, x, vdi, fmt="vhd", out=fh)[0] == 200
    info = vhdiinfo(vhd_out)
    assert info["Disk type"] == "Dynamic" and "(268435456 bytes)" in info["Media size"]
    with VHD.open(vhd_out) as v:
        assert v.allocated_blocks() == data_blocks
    vhd_util_check(vhd_out)

    again = new_vdi(x, size, "big-again")
    with open(vhd_out, "rb") as fh:
        assert put(sim, x, again, fh, fmt="vhd")[0] == 200
    assert allocated_blocks(leaf(sim, x, again)) == data_blocks
    raw_again = str(tmp_path / "again.raw")
    with open(raw_again, "wb") as fh:
        assert get(sim, x, again, out=fh)[0] == 200
    assert file_sha256(raw_again) == want


def test_differencing_stream_helpers_agree_with_the_library(tmp_path):
    """A differencing VHD written by our library streams in like any other (no xapi fact here:
    the stream reader must accept what blktap lays out, locators included)."""
    from xapisim.vhd.stream import StreamReader
    base, child = str(tmp_path / "b.vhd"), str(tmp_path / "c.vhd")
    create_dynamic(base, 4 * MiB).close()
    with create_differencing(child, base) as v:
        v.write(MiB, pattern(3, 512))
    with open(child, "rb") as fh:
        r = StreamReader(fh.read)
        blocks = list(r.blocks())
    assert r.disk_type == "differencing" and len(blocks) == 1
    start, block, runs = blocks[0]
    assert start == 0 and runs == [(MiB, MiB + 512)] and block[MiB:MiB + 512] == pattern(3, 512)

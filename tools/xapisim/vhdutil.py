"""A blktap `vhd-util` compatible command on the project's VHD library.

Same sub-commands, options, output lines and exit codes (a positive errno) as
blktap's vhd-util for what the plugins and the simulator use:

  create   -n NAME -s SIZE_MB [-S MAX_MB] [-r]        (-r: fixed, "reserve")
  snapshot -n NAME -p PARENT [-S MAX_MB]
  query    -n NAME [-v] [-s] [-p] [-f] [-d] [-S]
  modify   -n NAME [-p PARENT] [-s PHYS_SIZE_BYTES] [-z]
  set      -n NAME -f hidden|marker -v VALUE
  resize   -n NAME -s SIZE_MB [-j JOURNAL] [-f]
  check    -n NAME [-p] [-i]
  coalesce -n NAME
"""

import errno
import getopt
import os
import sys

from xapisim.vhd import VHD, VHDError, check, coalesce, create_differencing, create_dynamic
from xapisim.vhd import create_fixed
from xapisim.vhd import format as F

COMMANDS = ("create", "snapshot", "query", "read", "set", "repair", "resize", "fill",
            "coalesce", "modify", "scan", "check", "revert")
IMPLEMENTED = ("create", "snapshot", "query", "set", "resize", "coalesce", "modify", "check")


class Usage(Exception):
    def __init__(self, text, code=errno.EINVAL):
        super().__init__(text)
        self.text = text
        self.code = code


def _opts(argv, spec, usage, required="n"):
    """The options of argv as getopt ``spec`` says, by letter; a Usage error (with ``usage``) for -h, for
    anything else on the line and when one of the ``required`` letters is missing."""
    try:
        opts, rest = getopt.gnu_getopt(argv, spec)
    except getopt.GetoptError:
        raise Usage(usage)
    if rest:
        raise Usage(usage)
    out = {}
    for k, v in opts:
        if k == "-h":
            raise Usage(usage, 0)
        out[k[1:]] = v
    if any(letter not in out for letter in required):
        raise Usage(usage)
    return out


def _errno_of(exc):
    if isinstance(exc, OSError) and exc.errno:
        return exc.errno
    cause = getattr(exc, "__cause__", None)
    if isinstance(cause, OSError) and cause.errno:
        return cause.errno
    return errno.EINVAL


def _open(name, writable=False):
    try:
        return VHD.open(name, writable=writable)
    except VHDError as e:
        code = _errno_of(e)
        print("error opening %s: %d" % (name, -code))
        raise SystemExit(code)


def _blocks_rounded(mb):
    b = mb << 20
    return -(-b // F.BLOCK_SIZE) * F.BLOCK_SIZE


def _int(s, usage):
    try:
        return int(s, 10)
    except (TypeError, ValueError):
        raise Usage(usage)


# ---------------------------------------------------------------- commands
def cmd_create(argv):
    usage = ("options: <-n name> <-s size (MB)> [-r reserve] [-b file_is_fixed_size] "
             "[-S size (MB) for metadata preallocation (see vhd-util resize)] [-h help]")
    o = _opts(argv, "n:s:S:rbch", usage, required="ns")
    size = _blocks_rounded(_int(o["s"], usage))
    maxs = _blocks_rounded(_int(o["S"], usage)) if "S" in o else None
    if maxs is not None and maxs < size:
        raise Usage(usage)
    if "r" in o:
        create_fixed(o["n"], size).close()
    else:
        create_dynamic(o["n"], size, max_size=maxs).close()
    return 0


def _snapshot_target(name):
    """blktap: snapshot the first ancestor that is not an empty differencing disk."""
    target = name
    for _ in range(64):
        with VHD.open(target) as v:
            if v.footer.disk_type != F.TYPE_DIFF or v.allocated_blocks():
                return target
            p = v.parent_path
            if p is None or not os.path.exists(p):
                raise VHDError("%s: parent not found" % target)
            target = p
    return target


def cmd_snapshot(argv):
    usage = ("options: <-n name> <-p parent name> [-l snapshot depth limit] "
             "[-m parent_is_raw] [-S size (MB) for metadata preallocation "
             "(see vhd-util resize)] [-e link to existing file] [-h help]")
    o = _opts(argv, "n:p:l:S:bmeh", usage, required="np")
    if "m" in o:
        print("raw parents are not supported by this vhd-util")
        return errno.EINVAL
    try:
        target = _snapshot_target(o["p"])
    except VHDError as e:
        print("error opening %s: %d" % (o["p"], -_errno_of(e)))
        return _errno_of(e)
    maxs = _blocks_rounded(_int(o["S"], usage)) if "S" in o else None
    create_differencing(o["n"], target, max_size=maxs).close()
    return 0


def cmd_query(argv):
    usage = ("options: <-n name> [-v print virtual size (in MB)] "
             "[-s print physical utilization (bytes)] [-p print parent] "
             "[-f print fields] [-d print chain depth] "
             "[-S print max virtual size (MB) for fast resize] [-h help]")
    o = _opts(argv, "n:vspfdSh", usage)
    name = o["n"]
    err = 0
    with _open(name) as v:
        if "v" in o:
            print(v.virtual_size >> 20)
        if "s" in o:
            if v.is_dynamic:
                print(v.end_of_data + F.FOOTER_SIZE)
            else:
                print(v.physical_size)
        if "p" in o:
            if v.footer.disk_type != F.TYPE_DIFF:
                print("%s has no parent" % name)
            else:
                p = v.parent_path
                if p is None or not os.path.exists(p):
                    print("query failed")
                    err = err or errno.ENOENT
                else:
                    print(p)
        if "f" in o:
            print("hidden: %d" % v.footer.hidden)
        if "d" in o:
            try:
                chain = v.chain()
                depth = len(chain)
                for c in chain[1:]:
                    c.close()
                print("chain depth: %d" % depth)
            except VHDError as e:
                print("error checking chain depth: %d" % -_errno_of(e))
                err = err or _errno_of(e)
        if "S" in o:
            print((v.max_table_entries * (v.block_size if v.is_dynamic else F.BLOCK_SIZE))
                  >> 20)
    return err


def cmd_set(argv):
    usage = "options: <-n name> <-f field> <-v value> [-h help]"
    o = _opts(argv, "n:f:v:h", usage, required="nfv")
    field = o["f"]
    if field not in ("hidden", "marker"):
        print("invalid field %s" % field)
        raise Usage(usage)
    value = _int(o["v"], usage)
    if value < 0 or value > 255:
        print("invalid value %d" % value)
        raise Usage(usage)
    with _open(o["n"], writable=True) as v:
        if field == "hidden":
            v.footer.hidden = value
            v._write_footers()
        else:
            if v._batmap_hdr is None:
                print("%s has no batmap" % o["n"])
                return errno.EINVAL
            v._batmap_hdr.marker = value
            v._write_batmap()
    return 0


def cmd_modify(argv):
    usage = ("options: <-n name> [-p NEW_PARENT set parent [-m raw]] "
             "[-s NEW_SIZE set size] [-z zero (kill data)] [-h help]")
    o = _opts(argv, "n:s:p:mzh", usage)
    err = 0
    with _open(o["n"], writable=True) as v:
        if "z" in o:
            if not v.is_dynamic:
                print("failed to zero VHD: %d" % -errno.ENOSYS)
                err = errno.ENOSYS
            else:
                for i in range(len(v.bat)):
                    v.bat[i] = F.BAT_UNUSED
                v._runs.clear()
                v._write_bat()
                if v._batmap is not None:
                    v._batmap[:] = bytes(len(v._batmap))
                    v._write_batmap()
                v._end = v._compute_end()
                v._write_footers()
        if "s" in o:
            newsize = _int(o["s"], usage)
            phys = (v.end_of_data if v.is_dynamic else v.virtual_size) + F.FOOTER_SIZE
            if newsize < phys:
                print("failed to set physical size to %d: %d" % (newsize, -errno.EINVAL))
                err = errno.EINVAL
            else:
                os.pwrite(v._fd, v.footer.pack(), newsize - F.FOOTER_SIZE)
        if "p" in o:
            if "m" in o:
                print("failed to set parent to '%s': %d" % (o["p"], -errno.EINVAL))
                return errno.EINVAL
            cpath = os.path.realpath(o["p"])
            try:
                v.set_parent(cpath)
            except VHDError as e:
                code = errno.ENOENT if not os.path.exists(cpath) else _errno_of(e)
                print("failed to set parent to '%s': %d" % (cpath, -code))
                return code
    return err


def cmd_resize(argv):
    usage = ("options: <-n name> <-s size (in MB)> <-j journal> "
             "[-f fast (use preallocated metadata)] [-h help]")
    o = _opts(argv, "n:s:j:fch", usage, required="ns")
    size = _int(o["s"], usage) << 20
    with _open(o["n"], writable=True) as v:
        if v.is_dynamic:
            size = -(-size // v.block_size) * v.block_size
        if size < v.virtual_size:
            print("shrinking not supported")
            return errno.EINVAL
        if "f" in o and v.is_dynamic and -(-size // v.block_size) > v.max_table_entries:
            print("not enough metadata space reserved for fast resize")
            return errno.EINVAL
        v.resize(size)
    return 0


def cmd_check(argv):
    usage = "options: -n <file> [-i ignore missing primary footers] [-p check parents] [-h help]"
    o = _opts(argv, "n:iph", usage)
    name = o["n"]
    if not os.path.exists(name):
        print("cannot stat %s: %d" % (name, errno.ENOENT))
        return errno.ENOENT
    problems = check(name, check_parents="p" in o)
    if problems:
        for p in problems:
            print(p)
        print("%s appears invalid" % name)
        return errno.EINVAL
    print("%s is valid" % name)
    return 0


def cmd_coalesce(argv):
    usage = "options: <-n name> [-h help]"
    o = _opts(argv, "n:o:a:sph", usage)
    with _open(o["n"]):
        pass
    coalesce(o["n"])
    return 0


HANDLERS = {
    "create": cmd_create, "snapshot": cmd_snapshot, "query": cmd_query, "set": cmd_set,
    "modify": cmd_modify, "resize": cmd_resize, "check": cmd_check, "coalesce": cmd_coalesce,
}


def usage_text():
    return ("usage: vhd-util COMMAND [OPTIONS]\nCOMMAND := { %s }\n"
            % " | ".join(IMPLEMENTED))


def main(argv=None):
    if argv is None:
        argv = sys.argv[1:]
    args = [a for a in argv if a != "--debug"]
    if not args:
        sys.stderr.write(usage_text())
        return 1
    cmd = args[0]
    handler = HANDLERS.get(cmd)
    if handler is None:
        sys.stderr.write("invalid COMMAND %s\n" % cmd)
        sys.stderr.write(usage_text())
        return 1
    try:
        rc = handler(args[1:])
    except Usage as u:
        print(u.text)
        rc = u.code
    except SystemExit as e:
        rc = e.code if isinstance(e.code, int) else 1
    except VHDError as e:
        print("%s failed: %s" % (cmd, e))
        rc = _errno_of(e)
    except OSError as e:
        print("%s failed: %s" % (cmd, e))
        rc = e.errno or errno.EIO
    sys.stdout.flush()
    return rc


if __name__ == "__main__":
    sys.exit(main())

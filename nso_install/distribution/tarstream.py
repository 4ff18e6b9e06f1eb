"""Byte-level access to archives: offset windows, magic bytes and tar streaming.

Tarballs, installer.bin and signed.bin all end up as a (possibly compressed) tar stream at
some offset of a file; this module turns that into :class:`Member` objects one at a time,
in constant memory, with tarfile's own appetite bounded (headers, trailing data).  It
knows nothing about what members are allowed: that is :mod:`.checks`.

A compressed stream read from a file is inflated by a forked child process into a pipe
(:class:`_InflatedByChild`), so decompression runs on another processor beside the parsing,
checking and writing of the members already inflated, without sharing the GIL with them (a
thread did share it: the GzipFile's Python code waited for the busy main thread at every step,
and the two ran nearly one after the other).  Where no child can be forked, or the stream is
not a file's, a background thread does it (:class:`_Inflated`).  A regular member's data is
read straight from that stream (:class:`_Span`), not through ``tarfile.extractfile``.
"""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import os
import queue
import signal
import struct
import tarfile
import threading
import zlib
from typing import BinaryIO, Iterator

from ..errors import DistributionError
from ..replay import pure_fork
from .common import _GET_AGAIN, _NEVER, _READ_ERRORS, CHUNK, Member, _corrupt
from .tarheader import TarInfo, plain_fields

# Bounds against hostile archives (see also .checks): header bombs and trailing data.
HEADER_BUDGET = 1 << 20  # bytes tarfile may read for one member's headers (pax, long names, sparse maps)
MAX_TRAILER_BYTES = 64 << 20  # decompressed bytes after the end-of-archive marker
INFLATE_AHEAD = 8  # decompressed chunks (of up to CHUNK bytes) the inflating thread may hold ready


class _Window(io.RawIOBase):
    """A read-only, seekable view of ``length`` bytes of ``f`` starting at ``start``."""

    def __init__(self, f: BinaryIO, start: int, length: int):
        self._f, self._start, self._length, self._pos = f, start, length, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._length}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, b) -> int:
        n = min(len(b), self._length - self._pos)
        if n <= 0:
            return 0
        self._f.seek(self._start + self._pos)
        got = self._f.readinto(memoryview(b)[:n]) or 0
        self._pos += got
        return got


class _SafeReader:
    """Member data: read errors become DistributionError, and the size is enforced."""

    def __init__(self, f: BinaryIO, size: int, where: str, name: str):
        self._f, self._left, self._where, self._name = f, size, where, name

    def read(self, n: int) -> bytes:
        if self._left <= 0:
            return b""
        try:
            data = self._f.read(min(n, self._left))
        except _READ_ERRORS as e:
            raise _corrupt(self._where, e) from None
        if not data:
            raise DistributionError("corrupt-archive", f"{self._where}: {self._name} is shorter than its header "
                                                       "says (truncated or changed while being read).", _GET_AGAIN)
        self._left -= len(data)
        return data


def _magic(head: bytes) -> str | None:
    if head[:2] == b"\x1f\x8b":
        return "gz"
    if head[:3] == b"BZh":
        return "bz2"
    if head[:6] == b"\xfd7zXZ\x00":
        return "xz"
    if len(head) >= 262 and head[257:262] == b"ustar":
        return "tar"
    return None


def _decompress(raw: BinaryIO, comp: str) -> BinaryIO:
    return raw if comp == "tar" else _Streams(raw, comp)


# Each compressed format: how a stream of it starts, its name, and a decompressor for one stream.
_STREAMS = {
    "gz": (b"\x1f\x8b", "gzip", lambda: zlib.decompressobj(16 + zlib.MAX_WBITS)),  # header, CRC-32, length checked
    "bz2": (b"BZh", "bzip2", bz2.BZ2Decompressor),
    "xz": (b"\xfd7zXZ\x00", "xz", lambda: lzma.LZMADecompressor(lzma.FORMAT_XZ)),  # its integrity check verified
}


class _Streams(io.RawIOBase):
    """The compressed streams of ``raw`` (``comp``: gz, bz2 or xz) inflated one after the other,
    zero bytes between and after them skipped, as gzip and xz read them: a chunk at a time and
    at most MAX_TRAILER_BYTES of them (GzipFile skipped padding one byte at a time in Python,
    about a second a MiB, and LZMAFile fed it to a decompressor, a minute a GiB, so a tarball
    followed by a hole of a terabyte -- a sparse file: a few KiB on disk -- kept the run busy for
    days).  Anything else after a stream is refused (ValueError), in every format alike:
    BZ2File and LZMAFile ignored such trailing data silently, GzipFile refused it.  The errors
    are otherwise the decompressors': EOFError truncated, zlib.error / OSError / LZMAError
    damaged."""

    def __init__(self, raw: BinaryIO, comp: str):
        self._raw = raw
        self._magic, self._format, self._new = _STREAMS[comp]
        self._dec = None  # the current stream's decompressor; None between streams
        self._pending = b""  # compressed bytes read and not yet given to a decompressor
        self._started = self._ended = False
        self._pos = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        data = self.read(len(b))
        memoryview(b)[:len(data)] = data
        return len(data)

    def _more(self) -> bytes:
        data, self._pending = self._pending or self._raw.read(CHUNK), b""
        return data

    def _next_stream(self) -> bool:
        """Past the zero padding to the next stream's header; False at the end of the input."""
        skipped = 0
        while True:
            data = self._more()
            if not data:
                return False
            rest = data.lstrip(b"\0") if self._started else data  # (the first stream may not start with zeros)
            skipped += len(data) - len(rest)
            if skipped > MAX_TRAILER_BYTES:
                raise ValueError(f"more than {MAX_TRAILER_BYTES >> 20} MiB of zero bytes after the compressed "
                                 "stream")
            if rest:
                break
        while len(rest) < len(self._magic) and (more := self._raw.read(CHUNK)):
            rest += more
        if not rest.startswith(self._magic):
            raise ValueError(f"data after the end of the {self._format} stream that is not another {self._format} "
                             f"stream (it starts {rest[:8]!r})" if self._started else
                             f"not a {self._format} stream (it starts {rest[:8]!r})")
        self._pending, self._started = rest, True
        self._dec = self._new()
        return True

    def _read_some(self, n: int) -> bytes:
        """Up to ``n`` (> 0) inflated bytes; b"" only at the end of the input."""
        while not self._ended:
            if self._dec is None and not self._next_stream():
                self._ended = True
                break
            data = b""
            if getattr(self._dec, "needs_input", True):  # (bz2 and lzma hold back output they could give)
                data = self._more()
                if not data:
                    raise EOFError("Compressed file ended before the end-of-stream marker was reached")
            out = self._dec.decompress(data, n)
            # zlib hands back the input it did not take (unconsumed_tail); bz2 and lzma keep it
            self._pending = self._dec.unused_data if self._dec.eof else getattr(self._dec, "unconsumed_tail", b"")
            if self._dec.eof:
                self._dec = None
            if out:
                return out
        return b""

    def read(self, n: int | None = -1) -> bytes:
        """``n`` bytes (all when negative), fewer only at the end of the input (as GzipFile)."""
        parts, got = [], 0
        while n is None or n < 0 or got < n:
            part = self._read_some(CHUNK if n is None or n < 0 else n - got)
            if not part:
                break
            parts.append(part)
            got += len(part)
        self._pos += got
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        """Forward only (what a sequential tar read does), by reading."""
        target = offset if whence == io.SEEK_SET else self._pos + offset if whence == io.SEEK_CUR else -1
        if target < self._pos:
            raise io.UnsupportedOperation("the decompressed stream can only be read forward")
        while self._pos < target and self.read(min(CHUNK, target - self._pos)):
            pass
        return self._pos


class _Inflated(io.RawIOBase):
    """The decompressed stream ``dec`` (a _Streams), inflated ahead by a
    background thread into a bounded queue (at most INFLATE_AHEAD chunks: constant memory).
    zlib, bz2 and lzma release the GIL while they work, so inflating overlaps with parsing and
    writing.  ``read(n)`` returns n bytes unless the stream ends; seeking only forward (what a
    sequential tar read does); the thread's errors are raised, unchanged, by the read that
    reaches them.  ``close()`` stops and joins the thread (before the caller closes the file
    under it)."""

    def __init__(self, dec: BinaryIO):
        self._q: queue.Queue = queue.Queue(INFLATE_AHEAD)
        self._stop = threading.Event()
        self._buf, self._off, self._pos, self._done = b"", 0, 0, False
        self._thread = threading.Thread(target=self._run, args=(dec,), name="nso-install-inflate", daemon=True)
        self._thread.start()

    def _run(self, dec: BinaryIO) -> None:
        try:
            while not self._stop.is_set():
                chunk = dec.read(CHUNK)
                self._put(chunk)
                if not chunk:
                    return
        except BaseException as e:  # handed to the reader, raised there
            self._put(e)

    def _put(self, item) -> None:
        while not self._stop.is_set():
            try:
                self._q.put(item, timeout=0.2)
                return
            except queue.Full:
                continue

    def _fill(self) -> bool:
        """The next chunk into the buffer; False at the end of the stream."""
        if self._done:
            return False
        item = self._q.get()
        if isinstance(item, BaseException):
            self._done = True
            raise item
        if not item:
            self._done = True
            return False
        self._buf, self._off = item, 0
        return True

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def read(self, n: int | None = -1) -> bytes:
        buf, off = self._buf, self._off
        if n is not None and 0 <= n <= len(buf) - off:  # the common case: within the current chunk
            self._off, self._pos = off + n, self._pos + n
            return buf[off:off + n]
        parts = [buf[off:]]
        got = len(parts[0])
        self._pos += got
        self._buf, self._off = b"", 0
        while n is None or n < 0 or got < n:
            if not self._fill():
                break
            take = len(self._buf) if n is None or n < 0 else min(n - got, len(self._buf))
            parts.append(self._buf[:take])
            self._off, self._pos, got = take, self._pos + take, got + take
        return b"".join(parts)

    def readinto(self, b) -> int:
        data = self.read(len(b))
        memoryview(b)[:len(data)] = data
        return len(data)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        target = offset if whence == io.SEEK_SET else self._pos + offset if whence == io.SEEK_CUR else -1
        if target < self._pos - self._off or whence not in (io.SEEK_SET, io.SEEK_CUR):
            raise io.UnsupportedOperation("the decompressed tar stream can only be read forward")
        if target <= self._pos + len(self._buf) - self._off:  # within the current chunk
            self._off += target - self._pos
            self._pos = target
            return target
        self._pos += len(self._buf) - self._off
        self._buf, self._off = b"", 0
        while self._pos < target and self._fill():
            step = min(target - self._pos, len(self._buf))
            self._off, self._pos = step, self._pos + step
        return self._pos

    def close(self) -> None:
        if not self.closed:
            self._stop.set()
            while self._thread.is_alive():
                try:  # unblock a put() waiting for room
                    self._q.get_nowait()
                except queue.Empty:
                    self._thread.join(0.05)
            self._buf = b""
        super().close()


_FRAME = struct.Struct("<IQ")  # a chunk's length (or _FAILED), then the compressed bytes read so far
_FAILED = 0xFFFFFFFF
# what the child may raise while inflating, rebuilt by the parent as the same type (the callers
# tell a damaged archive by these types); anything else arrives as OSError
_ERRORS = {f"{t.__module__}.{t.__qualname__}": t for t in
           (zlib.error, gzip.BadGzipFile, EOFError, lzma.LZMAError, OSError, ValueError)}


class _InflatedByChild(_Inflated):
    """The decompressed stream of ``window`` (a :class:`_Window` of a file, compressed as
    ``comp``), inflated by a forked child process that writes it into a pipe in frames of at
    most CHUNK bytes (the pipe's buffer, and the frame being read, bound the memory).  The
    child only reads the file and writes the pipe (``os._exit`` when done: nothing of the
    parent's runs there); its errors reach the reader as the exception types inflating raises,
    with their messages.  ``window``'s position follows what the child has read (progress).
    ``close()`` kills and reaps the child."""

    def __init__(self, window: "_Window", comp: str):
        self._buf, self._off, self._pos, self._done = b"", 0, 0, False
        self._window = window
        r, w = os.pipe2(os.O_CLOEXEC)
        try:
            import fcntl

            fcntl.fcntl(w, getattr(fcntl, "F_SETPIPE_SZ", 1031), CHUNK)
        except OSError:
            pass  # the default pipe size: more reads, same result
        try:
            pid = pure_fork()
        except BaseException:
            os.close(r)
            os.close(w)
            raise
        if pid == 0:  # the child: inflate into the pipe, then leave without running any of the parent's code
            code = 1
            try:
                os.close(r)
                signal.signal(signal.SIGINT, signal.SIG_DFL)  # Ctrl-C ends it with its parent
                _inflate_into(w, window, comp)
                code = 0
            finally:
                os._exit(code)
        os.close(w)
        self._pid, self._r = pid, r

    def _read_exact(self, n: int) -> bytes:
        parts, got = [], 0
        while got < n:
            part = os.read(self._r, n - got)
            if not part:
                raise OSError("the process inflating the distribution ended before the end of the stream")
            parts.append(part)
            got += len(part)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def _fill(self) -> bool:
        if self._done:
            return False
        n, read = _FRAME.unpack(self._read_exact(_FRAME.size))
        if n == _FAILED:
            self._done = True
            name, message = json.loads(self._read_exact(read))
            raise _ERRORS.get(name, OSError)(message)
        self._window.seek(read)
        if n == 0:
            self._done = True
            return False
        self._buf, self._off = self._read_exact(n), 0
        return True

    def close(self) -> None:
        if not self.closed:
            os.close(self._r)
            try:
                os.kill(self._pid, signal.SIGKILL)  # not reaped yet: the pid is still this child's
            except ProcessLookupError:
                pass
            os.waitpid(self._pid, 0)
            self._buf = b""
        io.RawIOBase.close(self)


def _inflate_into(w: int, window: "_Window", comp: str) -> None:
    """(In the child.)  Inflate ``window`` into the pipe ``w`` in frames; an error as a last frame."""
    dec = _decompress(io.BufferedReader(window, CHUNK), comp)
    try:
        while True:
            chunk = dec.read(CHUNK)
            _write_frame(w, _FRAME.pack(len(chunk), window.tell()), chunk)
            if not chunk:
                return
    except BrokenPipeError:
        return  # the reader closed: nothing more is wanted
    except Exception as e:
        message = json.dumps([f"{type(e).__module__}.{type(e).__qualname__}", str(e)]).encode()
        _write_frame(w, _FRAME.pack(_FAILED, len(message)), message)


def _write_frame(w: int, header: bytes, data: bytes) -> None:
    frame = memoryview(header + data)  # one copy of at most CHUNK bytes, in the child
    while frame:
        frame = frame[os.write(w, frame):]


def _inflated(raw: BinaryIO, comp: str) -> BinaryIO:
    """The tar stream of ``raw`` (compressed as ``comp``): inflated by a child process when
    compressed and read from a file window (``raw`` a BufferedReader over a :class:`_Window`),
    else in a background thread."""
    if comp == "tar":
        return raw
    window = getattr(raw, "raw", None)
    if isinstance(window, _Window) and hasattr(os, "fork") and _INFLATE_IN_CHILD:
        try:
            return _InflatedByChild(window, comp)
        except OSError:
            pass  # no process to spare (EAGAIN, a seccomp filter...): a thread does it
    return _Inflated(_decompress(raw, comp))


_INFLATE_IN_CHILD = True  # tests switch it off to run the thread on the same archives


class _Span:
    """``size`` bytes of ``stream`` from ``offset`` on (a regular member's data, read once, in order)."""

    def __init__(self, stream: BinaryIO, offset: int, size: int):
        self._stream, self._offset, self._left = stream, offset, size

    def read(self, n: int) -> bytes:
        if self._offset is not None:
            self._stream.seek(self._offset)
            self._offset = None
        data = self._stream.read(min(n, self._left))
        self._left -= len(data)
        return data


class _HeaderGuard:
    """The tar stream as tarfile sees it.  While tarfile parses one member's headers (armed),
    it may read at most HEADER_BUDGET bytes: tarfile reads a pax or long-name header, or a
    sparse map, into memory whole, and a compressed archive can declare gigabytes of it."""

    def __init__(self, f: BinaryIO, where: str):
        self._f, self._where, self.armed, self._used = f, where, False, 0
        self._back = b""  # a header block read ahead and given back (unread), served first

    def unread(self, block: bytes) -> None:
        """Give back ``block``, just read: tarfile reads it again (a header it must parse itself)."""
        self._back = block

    def arm(self, on: bool = True) -> None:
        self.armed, self._used = on, 0

    def _spend(self, n: int | None) -> None:
        if not self.armed:
            return
        self._used += HEADER_BUDGET + 1 if n is None or n < 0 else n
        if self._used > HEADER_BUDGET:
            raise DistributionError("hostile-member",
                                    f"{self._where}: a member's headers (pax/long name/sparse map) are larger than "
                                    f"{HEADER_BUDGET >> 10} KiB; refusing the whole distribution.", _NEVER)

    def read(self, n: int | None = -1) -> bytes:
        self._spend(n)
        if self._back:
            back, self._back = self._back, b""
            if n is None or n < 0:
                return back + self._f.read()
            if n <= len(back):
                self._back = back[n:]
                return back[:n]
            return back + self._f.read(n - len(back))
        return self._f.read(n)

    def readinto(self, b) -> int:
        data = self.read(len(b))
        memoryview(b)[:len(data)] = data
        return len(data)

    def seek(self, *args) -> int:
        self._back = b""
        return self._f.seek(*args)

    def tell(self) -> int:
        return self._f.tell() - len(self._back)


def _mtime_ns(ti: tarfile.TarInfo, where: str) -> int:
    mt = ti.mtime  # (a pax header may make it a float)
    return _mtime_ns_of(mt, ti.name, where) if isinstance(mt, (int, float)) else 0


def _tar_members(stream: BinaryIO, where: str, compressed: bool) -> Iterator[Member]:
    """Members of the tar read from ``stream``, one at a time, ending with a check that the
    archive really ended (tarfile stops silently at a truncated or garbled header)."""
    guard = _HeaderGuard(stream, where)
    try:
        guard.arm()
        tf = tarfile.open(fileobj=guard, mode="r:", tarinfo=TarInfo)  # (tarheader: the common header faster)
    except _READ_ERRORS as e:
        raise _corrupt(where, e) from None
    finally:
        guard.arm(False)
    while True:
        try:
            # (the first member tarfile.open read already; global pax headers change the members after
            # them: tarfile applies them)
            if tf.firstmember is None and not tf.pax_headers:
                m = _plain_member(tf, guard, stream, where)
                if m is not None:
                    yield m
                    continue
            guard.arm()
            ti = tf.next()
        except _READ_ERRORS as e:
            raise _corrupt(where, e) from None
        finally:
            guard.arm(False)
        if ti is None:
            break
        tf.members.clear()  # constant memory: tarfile would keep every TarInfo
        mtime_ns = _mtime_ns(ti, where)
        m = Member(ti.name, _tar_kind(ti), ti.mode, ti.size if ti.isreg() else 0, mtime_ns, ti.linkname,
                   _tar_what(ti), sparse=_tar_sparse(ti))
        if ti.isreg() and not m.sparse:  # its data: ti.size bytes at ti.offset_data, read straight from the stream
            m.open = (lambda ti=ti: _SafeReader(_Span(stream, ti.offset_data, ti.size), ti.size, where, ti.name))
        elif ti.isreg():
            m.open = (lambda ti=ti: _SafeReader(tf.extractfile(ti), ti.size, where, ti.name))
        yield m
    try:
        stream.seek(tf.offset)
        end = stream.read(tarfile.BLOCKSIZE)
        if len(end) < tarfile.BLOCKSIZE or end.count(0) != tarfile.BLOCKSIZE:
            raise tarfile.ReadError("no end-of-archive marker where the next member header should be")
        if compressed:  # the decompressor checks the stream's CRC only at its very end
            extra = 0
            while chunk := stream.read(CHUNK):
                extra += len(chunk)
                if extra > MAX_TRAILER_BYTES:
                    raise tarfile.ReadError(f"more than {MAX_TRAILER_BYTES >> 20} MiB of data after the "
                                            "end-of-archive marker")
    except _READ_ERRORS as e:
        raise _corrupt(where, e) from None


_PLAIN_KINDS = {tarfile.REGTYPE: "file", tarfile.DIRTYPE: "dir", tarfile.SYMTYPE: "symlink",
                tarfile.LNKTYPE: "hardlink"}


def _plain_member(tf: tarfile.TarFile, guard: _HeaderGuard, stream: BinaryIO, where: str) -> Member | None:
    """The next member when its header is a plain one (a file, directory, symbolic or hard link
    with octal numbers and an unsigned checksum: every member of a real distribution), read
    without tarfile's per-member machinery and exactly as ``tf.next()`` reads it -- the same
    position checks, fields, data offset and next header's offset (tests hold the two equal).
    None, with the header block given back unread, for anything else: tarfile decides."""
    offset = tf.offset
    if offset != guard.tell():
        if offset == 0:
            return None
        guard.seek(offset - 1)
        if not guard.read(1):
            raise tarfile.ReadError("unexpected end of data")
    block = guard.read(tarfile.BLOCKSIZE)
    fields = plain_fields(block, tf.encoding, tf.errors)
    if fields is None:
        guard.unread(block)
        return None
    name, mode, _, _, size, mtime, _, kind, linkname = fields[:9]
    kind = _PLAIN_KINDS[kind]
    data = offset + tarfile.BLOCKSIZE
    if kind == "file":
        tf.offset = data + -(-size // tarfile.BLOCKSIZE) * tarfile.BLOCKSIZE
    else:
        tf.offset, size = data, 0
    if kind == "dir":
        name = name.rstrip("/")  # (tarfile strips it again after joining the prefix)
    m = Member(name, kind, mode, size, _mtime_ns_of(mtime, name, where), linkname)
    if kind == "file":
        m.open = (lambda: _SafeReader(_Span(stream, data, size), size, where, name))
    return m


def _mtime_ns_of(mt: int | float, name: str, where: str) -> int:
    if not abs(mt) < 2 ** 33:  # about year 2242: beyond any real file time (and false for NaN)
        raise DistributionError("corrupt-archive", f"{where}: member {name!r} has the impossible modification "
                                                   f"time {mt!r}.", _GET_AGAIN)
    return int(mt * 1_000_000_000)


def _tar_kind(ti: tarfile.TarInfo) -> str:
    if ti.isreg():
        return "file"
    if ti.isdir():
        return "dir"
    if ti.issym():
        return "symlink"
    if ti.islnk():
        return "hardlink"
    return "special"


def _tar_sparse(ti: tarfile.TarInfo) -> bool:
    """A GNU sparse member: old GNU type 'S', or pax ``GNU.sparse.*`` headers (formats 0.0, 0.1,
    1.0, and any other such header tarfile does not act on, which may still redefine the size)."""
    return (ti.type == tarfile.GNUTYPE_SPARSE or ti.issparse()
            or any(str(k).startswith("GNU.sparse.") for k in (ti.pax_headers or {})))


def _tar_what(ti: tarfile.TarInfo) -> str:
    return {tarfile.CHRTYPE: "character device", tarfile.BLKTYPE: "block device",
            tarfile.FIFOTYPE: "FIFO (named pipe)"}.get(ti.type, f"member of unsupported tar type {ti.type!r}")


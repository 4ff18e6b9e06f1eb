"""A compressed distribution read from a file is inflated by a forked child process (no GIL
shared with the thread that parses and writes): the same bytes, the same errors as the thread
that does it otherwise, and no child left behind however the reading ends."""

import bz2
import gzip
import io
import lzma
import os

import pytest

import hostile
from nso_install.distribution import open_distribution, tarstream
from nso_install.distribution.common import CHUNK

T = hostile.TOP


def _data(n):
    return os.urandom(n // 2) + bytes(n - n // 2)


@pytest.fixture
def forks(monkeypatch):
    pids = []
    real = os.fork

    def counted():
        pid = real()
        if pid:
            pids.append(pid)
        return pid
    monkeypatch.setattr(os, "fork", counted)
    return pids


def _gone(pid):
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # reaped already: not even a zombie is left


def _window(tmp_path, packed: bytes):
    f = tmp_path / "stream"
    f.write_bytes(b"#!/bin/sh\n" + packed)  # at an offset, as in an installer.bin
    raw = open(f, "rb", buffering=0)
    return raw, io.BufferedReader(tarstream._Window(raw, 10, len(packed)), CHUNK)


@pytest.mark.parametrize("comp, pack", [("gz", gzip.compress), ("bz2", bz2.compress), ("xz", lzma.compress)])
def test_the_child_inflates_exactly_what_the_decompressor_does(tmp_path, forks, comp, pack):
    data = _data(3 * CHUNK + 1234)
    packed = pack(data)
    raw, window = _window(tmp_path, packed)
    with raw:
        s = tarstream._inflated(window, comp)
        assert isinstance(s, tarstream._InflatedByChild) and len(forks) == 1
        got = [s.read(100), s.read(CHUNK), s.read(-1)]
        assert b"".join(got) == data
        assert window.raw.tell() == len(packed)  # the parent's window follows what the child read (progress)
        s.close()
    _gone(forks[0])


@pytest.mark.parametrize("damage", ["truncate", "crc", "garbage-after"])
def test_the_child_raises_what_the_thread_raises(tmp_path, monkeypatch, damage):
    data = _data(2 * CHUNK)
    packed = gzip.compress(data)
    packed = {"truncate": packed[:len(packed) // 2], "crc": packed[:-8] + b"\x00" * 8,
              "garbage-after": packed + b"not gzip at all"}[damage]
    raised = {}
    for child in (True, False):
        monkeypatch.setattr(tarstream, "_INFLATE_IN_CHILD", child)
        raw, window = _window(tmp_path, packed)
        with raw:
            s = tarstream._inflated(window, "gz")
            assert isinstance(s, tarstream._InflatedByChild) == child
            try:
                with pytest.raises(Exception) as e:
                    while s.read(CHUNK):
                        pass
            finally:
                s.close()
        raised[child] = (type(e.value), str(e.value))
    assert raised[True] == raised[False]


def test_closing_early_kills_and_reaps_the_child(tmp_path, forks):
    raw, window = _window(tmp_path, gzip.compress(bytes(64 * CHUNK)))  # far more than the pipe holds
    with raw:
        s = tarstream._inflated(window, "gz")
        assert s.read(10) == bytes(10)
        s.close()
    _gone(forks[0])


def test_a_refused_member_leaves_no_child_and_nothing_written(tmp_path, forks):
    members = hostile.base() + [hostile.file(f"{T}/f{i}", _data(100_000)) for i in range(40)]
    archive = hostile.write_tar(tmp_path / "nso-6.5.3.tar.gz", members[:5] + [hostile.symlink(f"{T}/zz", "/etc")]
                                + members[5:])
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(Exception) as e:
        open_distribution(archive).extract(dest, uid=None, gid=None)
    assert getattr(e.value, "reference", None) == "hostile-member"
    assert os.listdir(dest) == [] and forks
    for pid in forks:
        _gone(pid)


def test_without_a_process_to_spare_a_thread_inflates(tmp_path, monkeypatch):
    def no_fork():
        raise BlockingIOError(11, "Resource temporarily unavailable")
    monkeypatch.setattr(os, "fork", no_fork)
    members = hostile.base() + [hostile.file(f"{T}/big", _data(2 * CHUNK))]
    archive = hostile.write_tar(tmp_path / "nso-6.5.3.tar.gz", members)
    dest = tmp_path / "dest"
    dest.mkdir()
    open_distribution(archive).extract(dest, uid=None, gid=None)
    assert (dest / "big").stat().st_size == 2 * CHUNK

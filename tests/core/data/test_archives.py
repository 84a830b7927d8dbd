"""Unpacking archives: good ones whole, unsafe or oversized ones refused with nothing left behind."""

from __future__ import annotations

import gzip
import io
import os
import re
import stat
import tarfile
import zipfile

import pytest

from core.data import archives
from core.data.archives import ArchiveError, archive_kind, unpack
from core.data.dataset import DatasetError

FILES = {"data/train.bin": bytes(range(256)) * 40, "data/sub/labels.txt": b"cat\ndog\n", "readme.txt": b"hello"}


def tar_bytes(members, compressed=True):
    """A tar (gzip-compressed unless told otherwise) of ``(TarInfo, data or None)`` pairs."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz" if compressed else "w", format=tarfile.GNU_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buffer.getvalue()


def file_member(name, data):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def special_member(name, kind, linkname=""):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info, None


def good_tar(compressed=True):
    folder = tarfile.TarInfo("data")
    folder.type = tarfile.DIRTYPE
    return tar_bytes([(folder, None), *(file_member(name, data) for name, data in FILES.items())], compressed)


def zip_bytes(entries):
    """A zip of ``(name or ZipInfo, data)`` pairs, deflated."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as package:
        for name, data in entries:
            package.writestr(name, data)
    return buffer.getvalue()


def assert_nothing_left(tmp_path, archive):
    assert sorted(path.name for path in tmp_path.iterdir()) == [archive.name]
    assert not (tmp_path.parent / "evil").exists()


def assert_holds(folder, files):
    found = {
        str(path.relative_to(folder).as_posix()): path.read_bytes() for path in folder.rglob("*") if path.is_file()
    }
    assert found == files


@pytest.mark.parametrize("compressed", [True, False])
def test_good_tar_unpacks_whole(tmp_path, compressed):
    archive = tmp_path / "set.tgz"
    archive.write_bytes(good_tar(compressed))
    assert archive_kind(archive) == ("tar.gz" if compressed else "tar")
    into = tmp_path / "unpacked" / "set"
    assert unpack(archive, into) == into
    assert_holds(into, FILES)
    assert sorted(path.name for path in into.parent.iterdir()) == ["set"]


def test_good_zip_unpacks_whole(tmp_path):
    archive = tmp_path / "set.zip"
    archive.write_bytes(zip_bytes([("data/", b""), *FILES.items()]))
    assert archive_kind(archive) == "zip"
    unpack(archive, tmp_path / "out")
    assert_holds(tmp_path / "out", FILES)
    assert (tmp_path / "out" / "data").is_dir()


def test_good_gz_becomes_the_file_without_gz(tmp_path):
    archive = tmp_path / "train-images-idx3-ubyte.gz"
    data = bytes(range(256)) * 100
    archive.write_bytes(gzip.compress(data))
    assert archive_kind(archive) == "gz"
    unpack(archive, tmp_path / "out")
    assert_holds(tmp_path / "out", {"train-images-idx3-ubyte": data})


def test_kind_comes_from_the_content_not_the_name(tmp_path):
    cases = {"a.zip": good_tar(), "b.gz": good_tar(False), "c.tar": zip_bytes(FILES.items()), "d.tgz": b"plain text"}
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
    assert [archive_kind(tmp_path / name) for name in cases] == ["tar.gz", "tar", "zip", ""]
    with pytest.raises(ArchiveError, match=r"is not a tar, tar\.gz, zip or gz archive"):
        unpack(tmp_path / "d.tgz", tmp_path / "out")
    with pytest.raises(ArchiveError, match="cannot be read"):
        archive_kind(tmp_path / "absent")


def test_an_existing_target_is_refused(tmp_path):
    archive = tmp_path / "set.tgz"
    archive.write_bytes(good_tar())
    (tmp_path / "out").mkdir()
    with pytest.raises(ArchiveError, match="already exists"):
        unpack(archive, tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []


@pytest.mark.parametrize(
    ("member", "reason"),
    [
        (file_member("../evil", b"x"), "'..'"),
        (file_member("data/../../evil", b"x"), "'..'"),
        (file_member("/abs/evil", b"x"), "absolute path"),
        (file_member("C:/evil", b"x"), "drive letter"),
        (file_member("..\\evil", b"x"), "'..'"),
        (special_member("link", tarfile.SYMTYPE, "/etc/passwd"), "symbolic link"),
        (special_member("hard", tarfile.LNKTYPE, "readme.txt"), "hard link"),
        (special_member("null", tarfile.CHRTYPE), "device"),
        (special_member("disk", tarfile.BLKTYPE), "device"),
        (special_member("pipe", tarfile.FIFOTYPE), "FIFO"),
    ],
)
def test_unsafe_tar_members_are_refused_before_anything_is_written(tmp_path, member, reason):
    info, _ = member
    archive = tmp_path / "bad.tar.gz"
    # The good files come first: refusing must also undo nothing because nothing was written.
    archive.write_bytes(tar_bytes([*(file_member(n, d) for n, d in FILES.items()), member]))
    with pytest.raises(ArchiveError) as caught:
        unpack(archive, tmp_path / "out")
    message = str(caught.value)
    assert str(archive) in message and repr(info.name) in message and reason in message
    assert isinstance(caught.value, DatasetError)
    assert_nothing_left(tmp_path, archive)


@pytest.mark.parametrize(
    ("name", "reason"),
    [("../evil", "'..'"), ("/evil", "absolute path"), ("D:\\evil", "drive letter"), ("link", "symbolic link")],
)
def test_unsafe_zip_members_are_refused(tmp_path, name, reason):
    info = zipfile.ZipInfo(name)
    if name == "link":
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
    archive = tmp_path / "bad.zip"
    archive.write_bytes(zip_bytes([*FILES.items(), (info, b"/etc/passwd")]))
    with pytest.raises(ArchiveError, match=re.escape(reason)) as caught:
        unpack(archive, tmp_path / "out")
    assert str(archive) in str(caught.value) and repr(name) in str(caught.value)
    assert_nothing_left(tmp_path, archive)


def test_duplicate_and_colliding_members_are_refused(tmp_path):
    archive = tmp_path / "twice.zip"
    archive.write_bytes(zip_bytes([("a.txt", b"1"), ("A.TXT", b"2")]))
    with pytest.raises(ArchiveError, match="appears twice"):
        unpack(archive, tmp_path / "out")
    archive.write_bytes(zip_bytes([("a", b"1"), ("a/b", b"2")]))
    with pytest.raises(ArchiveError, match="inside a member that is a file"):
        unpack(archive, tmp_path / "out")
    assert_nothing_left(tmp_path, archive)


def test_zip_bomb_is_refused_by_ratio(tmp_path):
    archive = tmp_path / "bomb.zip"
    archive.write_bytes(zip_bytes([("zeros.bin", bytes(20 << 20))]))
    assert archive.stat().st_size < 100_000
    with pytest.raises(ArchiveError, match="more than 100 times") as caught:
        unpack(archive, tmp_path / "out")
    assert "'zeros.bin'" in str(caught.value)
    assert_nothing_left(tmp_path, archive)


def test_zip_bomb_is_refused_by_size(tmp_path, monkeypatch):
    monkeypatch.setattr(archives, "MAX_UNPACKED_BYTES", 10 << 20)
    monkeypatch.setattr(archives, "MAX_RATIO", 10**6)
    archive = tmp_path / "bomb.zip"
    archive.write_bytes(zip_bytes([("a.bin", bytes(8 << 20)), ("b.bin", bytes(8 << 20))]))
    with pytest.raises(ArchiveError, match=f"more than {10 << 20:,} bytes .*'b.bin'"):
        unpack(archive, tmp_path / "out")
    assert_nothing_left(tmp_path, archive)


def test_tar_gz_bomb_is_refused_from_its_headers(tmp_path):
    archive = tmp_path / "bomb.tar.gz"
    archive.write_bytes(tar_bytes([file_member("zeros.bin", bytes(20 << 20))]))
    with pytest.raises(ArchiveError, match="more than 100 times"):
        unpack(archive, tmp_path / "out")
    assert_nothing_left(tmp_path, archive)

    # The headers alone decide: this one announces 200 MB that are not even there.
    info, _ = file_member("huge.bin", b"")
    info.size = 200 << 20
    archive.write_bytes(gzip.compress(info.tobuf(tarfile.GNU_FORMAT) + bytes(1024)))
    with pytest.raises(ArchiveError, match=r"more than 100 times .*'huge\.bin'"):
        unpack(archive, tmp_path / "out")
    assert_nothing_left(tmp_path, archive)


def test_gz_bomb_stops_while_streaming(tmp_path, monkeypatch):
    archive = tmp_path / "zeros.gz"
    archive.write_bytes(gzip.compress(bytes(20 << 20)))
    with pytest.raises(ArchiveError, match="more than 100 times"):
        unpack(archive, tmp_path / "out")
    assert_nothing_left(tmp_path, archive)

    monkeypatch.setattr(archives, "MAX_RATIO", 10**6)
    monkeypatch.setattr(archives, "MAX_UNPACKED_BYTES", 3 << 20)
    with pytest.raises(ArchiveError, match=f"more than {3 << 20:,} bytes"):
        unpack(archive, tmp_path / "out")
    assert_nothing_left(tmp_path, archive)


def test_too_many_members_are_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(archives, "MAX_MEMBERS", 2)
    for name, data in (("many.tgz", good_tar()), ("many.zip", zip_bytes(FILES.items()))):
        archive = tmp_path / name
        archive.write_bytes(data)
        with pytest.raises(ArchiveError, match="more than 2 members"):
            unpack(archive, tmp_path / "out")
        archive.unlink()
    assert list(tmp_path.iterdir()) == []


def test_a_header_understating_its_size_stops_the_unpacking(tmp_path):
    info, _ = file_member("small.bin", b"")
    info.size = 10
    # The header says 10 bytes; 4 KiB follow, which tarfile would silently drop.
    raw = info.tobuf(tarfile.GNU_FORMAT) + b"\xff" * 4096 + bytes(1024)
    archive = tmp_path / "lying.tar.gz"
    archive.write_bytes(gzip.compress(raw))
    with pytest.raises(ArchiveError, match="lies about its member's size"):
        unpack(archive, tmp_path / "out")
    assert_nothing_left(tmp_path, archive)


def test_an_archive_changed_after_inspection_is_refused(tmp_path, monkeypatch):
    archive = tmp_path / "set.tgz"
    archive.write_bytes(good_tar())
    bigger = tmp_path / "bigger.tgz"
    folder = tarfile.TarInfo("data")
    folder.type = tarfile.DIRTYPE
    # The same members, each twice as long as its inspected header said.
    bigger.write_bytes(tar_bytes([(folder, None), *(file_member(name, data * 2) for name, data in FILES.items())]))
    opened = []
    real_open = tarfile.open

    def open_then_swap(name, *args, **kwargs):
        opened.append(name)
        return real_open(bigger if len(opened) > 1 else name, *args, **kwargs)

    monkeypatch.setattr(archives.tarfile, "open", open_then_swap)
    with pytest.raises(ArchiveError, match="changed while it was unpacked"):
        unpack(archive, tmp_path / "out")
    assert len(opened) == 2
    assert sorted(path.name for path in tmp_path.iterdir()) == ["bigger.tgz", "set.tgz"]


def test_truncated_archives_are_damaged_and_leave_nothing(tmp_path):
    for name, data in (
        ("cut.tgz", good_tar()),
        ("cut.zip", zip_bytes(FILES.items())),
        ("cut.gz", gzip.compress(b"x" * 5000)),
    ):
        archive = tmp_path / name
        archive.write_bytes(data[: len(data) * 2 // 3])
        with pytest.raises(
            ArchiveError, match=re.escape(str(archive)) + ": (is damaged|is a damaged gzip file|is not a tar)"
        ):
            unpack(archive, tmp_path / "out")
        assert_nothing_left(tmp_path, archive)
        archive.unlink()


def test_unpacked_files_get_default_permissions(tmp_path):
    info, data = file_member("tool.sh", b"#!/bin/sh\n")
    info.mode = 0o4777  # setuid and world-writable in the archive
    archive = tmp_path / "modes.tar"
    archive.write_bytes(tar_bytes([(info, data)], compressed=False))
    unpack(archive, tmp_path / "out")
    mode = (tmp_path / "out" / "tool.sh").stat().st_mode
    assert not mode & (stat.S_ISUID | stat.S_IXUSR)
    if os.name == "posix":
        assert not mode & stat.S_IWOTH


def test_a_member_yielding_more_than_it_declares_stops_the_writing(tmp_path, monkeypatch):
    archive = tmp_path / "set.tgz"
    archive.write_bytes(good_tar())
    real_extractfile = tarfile.TarFile.extractfile

    def overlong(self, member):
        # A reader that does not stop at the header's size, as a broken or hostile one might.
        source = real_extractfile(self, member)
        return io.BytesIO(source.read() + b"more" * 1000) if source is not None else None

    monkeypatch.setattr(archives.tarfile.TarFile, "extractfile", overlong)
    with pytest.raises(ArchiveError, match=r"holds more than the .* bytes it declares"):
        unpack(archive, tmp_path / "out")
    assert_nothing_left(tmp_path, archive)

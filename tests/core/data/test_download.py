"""Downloads: checksums, resuming, redirects, stalls, cancelling, mirrors and unreachable hosts."""

from __future__ import annotations

import hashlib
import os
import re
import threading
import time

import pytest

from core.data.dataset import DatasetError
from core.data.download import (
    MIRROR_VARIABLE,
    DownloadCancelled,
    DownloadError,
    Progress,
    candidate_urls,
    download,
    sha256_of,
    verify_file,
)
from tests.core.data.http_server import LocalServer, bypass_proxies, unreachable_url

BODY = bytes(range(256)) * 1200  # 300 kB: several chunks, still instant
BODY_SHA = hashlib.sha256(BODY).hexdigest()
WRONG_SHA = "0" * 64


@pytest.fixture(autouse=True)
def _direct(monkeypatch):
    bypass_proxies(monkeypatch)
    monkeypatch.delenv(MIRROR_VARIABLE, raising=False)


@pytest.fixture
def server():
    with LocalServer({"/data.bin": BODY}) as running:
        yield running


def part_of(path):
    return path.with_name(path.name + ".part")


def test_good_download_is_verified_and_renamed(server, tmp_path):
    destination = tmp_path / "sub" / "data.bin"
    result = download(server.url("/data.bin"), destination, sha256=BODY_SHA, size=len(BODY), timeout=5)
    assert result == destination
    assert destination.read_bytes() == BODY
    assert not part_of(destination).exists()
    assert server.ranges("/data.bin") == [None]


def test_resume_after_a_cut_sends_a_range_and_completes(server, tmp_path):
    destination = tmp_path / "data.bin"
    url = server.serve("/data.bin", BODY, cut_after=100_000)
    with pytest.raises(DownloadError) as caught:
        download(url, destination, sha256=BODY_SHA, timeout=5)
    message = str(caught.value)
    assert url in message and "cut at 100,000 of 307,200 bytes" in message and "resume" in message
    assert "\n" not in message
    assert part_of(destination).read_bytes() == BODY[:100_000]
    assert not destination.exists()

    server.serve("/data.bin", BODY)
    download(url, destination, sha256=BODY_SHA, timeout=5)
    assert server.ranges("/data.bin") == [None, "bytes=100000-"]
    assert destination.read_bytes() == BODY
    assert not part_of(destination).exists()


def test_a_server_ignoring_range_starts_the_file_over(server, tmp_path):
    destination = tmp_path / "data.bin"
    part_of(destination).write_bytes(b"stale bytes of another file")
    url = server.serve("/data.bin", BODY, no_range=True)
    download(url, destination, sha256=BODY_SHA, timeout=5)
    assert server.ranges("/data.bin") == ["bytes=27-"]
    assert destination.read_bytes() == BODY


def test_a_complete_part_answered_416_is_verified_and_kept(server, tmp_path):
    destination = tmp_path / "data.bin"
    part_of(destination).write_bytes(BODY)
    download(server.url("/data.bin"), destination, timeout=5)
    assert server.ranges("/data.bin") == [f"bytes={len(BODY)}-"]
    assert destination.read_bytes() == BODY


def test_a_complete_verified_part_needs_no_request(server, tmp_path):
    destination = tmp_path / "data.bin"
    part_of(destination).write_bytes(BODY)
    download(server.url("/data.bin"), destination, sha256=BODY_SHA, size=len(BODY), timeout=5)
    assert server.requests == []
    assert destination.read_bytes() == BODY


def test_a_stale_part_failing_its_checksum_is_fetched_again_from_zero(server, tmp_path):
    destination = tmp_path / "data.bin"
    part_of(destination).write_bytes(b"x" * 1000)
    download(server.url("/data.bin"), destination, sha256=BODY_SHA, timeout=5)
    assert server.ranges("/data.bin") == ["bytes=1000-", None]
    assert destination.read_bytes() == BODY


def test_wrong_checksum_leaves_nothing_and_names_url_and_hashes(server, tmp_path):
    destination = tmp_path / "data.bin"
    url = server.url("/data.bin")
    with pytest.raises(DownloadError) as caught:
        download(url, destination, sha256=WRONG_SHA, timeout=5)
    message = str(caught.value)
    assert url in message and WRONG_SHA in message and BODY_SHA in message
    assert list(tmp_path.iterdir()) == []


def test_wrong_announced_size_is_refused(server, tmp_path):
    url = server.url("/data.bin")
    with pytest.raises(DownloadError, match="announces 307,200 bytes, expected 10"):
        download(url, tmp_path / "data.bin", size=10, timeout=5)
    assert list(tmp_path.iterdir()) == []


def test_http_404_is_one_line_naming_the_url(server, tmp_path):
    url = server.url("/missing.bin")
    with pytest.raises(DownloadError) as caught:
        download(url, tmp_path / "missing.bin", timeout=5)
    assert str(caught.value) == f"{url}: HTTP 404 Not Found"
    assert list(tmp_path.iterdir()) == []


def test_redirects_are_followed_and_loops_refused(server, tmp_path):
    server.serve("/old.bin", redirect_to="/data.bin")
    download(server.url("/old.bin"), tmp_path / "data.bin", sha256=BODY_SHA, timeout=5)
    assert (tmp_path / "data.bin").read_bytes() == BODY

    server.serve("/a", redirect_to="/b")
    server.serve("/b", redirect_to="/a")
    with pytest.raises(DownloadError, match="redirect loop"):
        download(server.url("/a"), tmp_path / "loop.bin", timeout=5)

    for hop in range(4):
        server.serve(f"/hop{hop}", redirect_to=f"/hop{hop + 1}")
    server.serve("/hop4", redirect_to="/data.bin")
    with pytest.raises(DownloadError, match="more than 3 redirects"):
        download(server.url("/hop0"), tmp_path / "far.bin", max_redirects=3, timeout=5)
    assert not (tmp_path / "loop.bin").exists() and not (tmp_path / "far.bin").exists()


def test_redirect_to_another_scheme_is_refused(server, tmp_path):
    server.serve("/elsewhere", redirect_to="file:///etc/passwd")
    with pytest.raises(DownloadError, match="not an http or https address"):
        download(server.url("/elsewhere"), tmp_path / "x", timeout=5)


@pytest.mark.parametrize("url", ["file:///etc/hostname", "ftp://example.org/x.gz", "/local/path"])
def test_only_http_and_https_are_fetched(tmp_path, url):
    with pytest.raises(DownloadError, match="only http and https"):
        download(url, tmp_path / "x", timeout=5)


def test_a_stall_gives_up_quickly_and_keeps_the_part(server, tmp_path):
    destination = tmp_path / "data.bin"
    url = server.serve("/data.bin", BODY, stall_after=5000)
    started = time.monotonic()
    with pytest.raises(DownloadError, match="stalled") as caught:
        download(url, destination, timeout=0.5)
    assert time.monotonic() - started < 2.5
    assert url in str(caught.value) and "resume" in str(caught.value)
    assert part_of(destination).read_bytes() == BODY[:5000]


def test_cancel_stops_and_keeps_the_part_for_a_resume(server, tmp_path):
    destination = tmp_path / "data.bin"
    reports = []

    def cancel_after_first_bytes():
        return bool(reports)

    with pytest.raises(DownloadCancelled, match="cancelled"):
        download(
            server.url("/data.bin"),
            destination,
            progress=reports.append,
            cancelled=cancel_after_first_bytes,
            timeout=5,
        )
    kept = part_of(destination).stat().st_size
    assert 0 < kept < len(BODY)
    assert not destination.exists()
    download(server.url("/data.bin"), destination, sha256=BODY_SHA, timeout=5)
    assert server.ranges("/data.bin")[-1] == f"bytes={kept}-"


def test_cancel_wakes_a_read_stalled_on_a_silent_server(server, tmp_path):
    server.serve("/silent.bin", BODY, stall_after=1000)
    pressed = threading.Event()
    threading.Timer(0.3, pressed.set).start()
    started = time.monotonic()
    with pytest.raises(DownloadCancelled, match="1,000 bytes kept"):
        download(server.url("/silent.bin"), tmp_path / "silent.bin", cancelled=pressed.is_set, timeout=30)
    # Well before the 30 s time-out: the watch shut the socket down.
    assert time.monotonic() - started < 5
    assert part_of(tmp_path / "silent.bin").stat().st_size == 1000


def test_cancel_before_start_requests_nothing(server, tmp_path):
    with pytest.raises(DownloadCancelled):
        download(server.url("/data.bin"), tmp_path / "data.bin", cancelled=lambda: True, timeout=5)
    assert server.requests == []
    assert list(tmp_path.iterdir()) == []


def test_progress_grows_and_ends_with_done_equal_to_total(server, tmp_path):
    reports: list[Progress] = []
    download(server.url("/data.bin"), tmp_path / "data.bin", progress=reports.append, timeout=5)
    done = [report.done for report in reports]
    assert done == sorted(done) and done[0] > 0
    assert reports[-1].done == reports[-1].total == len(BODY)
    assert all(report.url == server.url("/data.bin") for report in reports)


def test_progress_description():
    report = Progress("http://x/y", 4_200_000, 9_900_000, 1_300_000.0)
    assert report.describe() == "4.2 of 9.9 MB, 1.3 MB/s, 5 s left"
    assert report.remaining_s == pytest.approx(5.7 / 1.3)
    assert Progress("http://x/y", 512, None, 0.0).describe() == "512 B"
    assert Progress("http://x/y", 10, 10, 0.0).remaining_s is None


def test_the_mirror_is_tried_first_then_the_original(server, tmp_path, monkeypatch):
    monkeypatch.setenv(MIRROR_VARIABLE, server.url("/mirror/"))
    original = server.url("/data.bin")
    urls = candidate_urls([original], "data.bin")
    assert urls == [server.url("/mirror/data.bin"), original]
    download(urls, tmp_path / "data.bin", sha256=BODY_SHA, timeout=5)
    assert [seen.path for seen in server.requests] == ["/mirror/data.bin", "/data.bin"]

    server.serve("/mirror/data.bin", BODY)
    download(urls, tmp_path / "again.bin", sha256=BODY_SHA, timeout=5)
    assert [seen.path for seen in server.requests][2:] == ["/mirror/data.bin"]


def test_candidate_urls_argument_beats_the_environment_and_duplicates_go(monkeypatch):
    monkeypatch.setenv(MIRROR_VARIABLE, "http://env.example/")
    assert candidate_urls(["http://a/f", "http://a/f"], "f", mirror="http://m//") == ["http://m/f", "http://a/f"]
    assert candidate_urls(["http://a/f"], "f", mirror="") == ["http://a/f"]
    assert candidate_urls("http://env.example/f", "f") == ["http://env.example/f"]


def test_a_bad_mirror_copy_is_skipped_and_reported_only_if_all_fail(server, tmp_path):
    server.serve("/mirror/data.bin", b"not the file")
    urls = [server.url("/mirror/data.bin"), server.url("/data.bin")]
    download(urls, tmp_path / "data.bin", sha256=BODY_SHA, timeout=5)
    assert (tmp_path / "data.bin").read_bytes() == BODY

    server.serve("/data.bin", status=404)
    with pytest.raises(DownloadError) as caught:
        download(urls, tmp_path / "other.bin", sha256=BODY_SHA, timeout=5)
    message = str(caught.value)
    assert "every source failed" in message and "SHA-256 is" in message and "HTTP 404" in message
    assert "\n" not in message and not (tmp_path / "other.bin").exists()


def test_an_unreachable_host_says_so(tmp_path):
    url = unreachable_url("/data.bin")
    with pytest.raises(DownloadError, match=r"cannot reach 127\.0\.0\.1: .*\(no network\?\)") as caught:
        download(url, tmp_path / "data.bin", timeout=2)
    assert str(caught.value).startswith(url)
    assert list(tmp_path.iterdir()) == []


def test_the_environment_proxy_is_used(server, tmp_path, monkeypatch):
    # Every request goes to the proxy, which here answers with the file whatever the URL.
    monkeypatch.setenv("http_proxy", server.url(""))
    monkeypatch.delenv("no_proxy")
    monkeypatch.delenv("NO_PROXY")
    server.serve("http://files.invalid/data.bin", BODY)
    download("http://files.invalid/data.bin", tmp_path / "data.bin", sha256=BODY_SHA, timeout=5)
    assert server.requests[-1].path == "http://files.invalid/data.bin"


def test_verify_file_and_sha256_of(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(BODY)
    assert sha256_of(path) == BODY_SHA
    verify_file(path, BODY_SHA.upper(), len(BODY))
    with pytest.raises(DatasetError, match=re.escape(f"{path}: is 307,200 bytes, expected 5")):
        verify_file(path, BODY_SHA, 5)
    with pytest.raises(DatasetError, match=f"SHA-256 is {BODY_SHA}, expected {WRONG_SHA}"):
        verify_file(path, WRONG_SHA)
    with pytest.raises(DatasetError, match="cannot be read"):
        sha256_of(tmp_path / "absent")


def test_the_destination_is_replaced_only_when_the_new_file_is_verified(server, tmp_path):
    destination = tmp_path / "data.bin"
    destination.write_bytes(b"old")
    with pytest.raises(DownloadError):
        download(server.url("/data.bin"), destination, sha256=WRONG_SHA, timeout=5)
    assert destination.read_bytes() == b"old"
    download(server.url("/data.bin"), destination, sha256=BODY_SHA, timeout=5)
    assert destination.read_bytes() == BODY
    assert sorted(os.listdir(tmp_path)) == ["data.bin"]

"""Downloading dataset files: resumable, verified, and never half-written.

A file is streamed into ``<destination>.part`` beside its destination, resumed with
an HTTP ``Range`` request when a ``.part`` is already there, checked against its
expected size and SHA-256, and only then renamed to the destination, so the
destination either does not exist or is the complete, verified file.

Several URLs may be given: each is tried in turn until one delivers the file.
:func:`candidate_urls` puts a mirror (``LAYERWISE_DATASETS_MIRROR``) in front of them.
Proxies come from the environment as urllib reads it (``HTTP_PROXY``, ``HTTPS_PROXY``,
``NO_PROXY``). Only ``http`` and ``https`` addresses are fetched.

Every error is a :class:`DownloadError` (a :class:`~core.data.dataset.DatasetError`)
on one line that names the URL (or the file) and the cause.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import math
import os
import re
import socket
import ssl
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from core.data.dataset import DatasetError

MIRROR_VARIABLE = "LAYERWISE_DATASETS_MIRROR"
"""Environment variable naming a mirror (an http(s) folder URL) tried before a file's own URLs."""
PART_SUFFIX = ".part"
"""Appended to the destination's name while the file is being downloaded."""
USER_AGENT = "Layerwise-datasets/1"
CHUNK_BYTES = 1 << 16
PROGRESS_INTERVAL_S = 0.1
"""Progress is reported at most this often (and once more at the end)."""
CANCEL_POLL_S = 0.1
"""How often a running read looks whether the caller cancelled (a silent server would hold it up)."""

_REDIRECT_CODES = (301, 302, 303, 307, 308)
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)", re.IGNORECASE)
_UNSATISFIED_RANGE = re.compile(r"bytes\s+\*/(\d+)", re.IGNORECASE)
_SHA256 = re.compile(r"[0-9a-f]{64}")


class DownloadError(DatasetError):
    """A file could not be downloaded; the one-line message names the URL and the cause."""


class DownloadCancelled(DownloadError):
    """The caller cancelled the download; the ``.part`` file is kept for a later resume."""


class _LocalError(DownloadError):
    """The local file cannot be written: no other URL would fare better."""


@dataclass(frozen=True)
class Progress:
    """How far a download has come, as handed to the progress callback.

    Parameters
    ----------
    url
        The URL being read.
    done
        Bytes of the file on disk so far, a resumed part included.
    total
        The file's size when the server (or the caller) says it, else ``None``.
    rate
        Bytes per second received by this request.
    """

    url: str
    done: int
    total: int | None
    rate: float

    @property
    def remaining_s(self) -> float | None:
        """Seconds left at the current rate, or ``None`` when the size or the rate is unknown."""
        if self.total is None or self.rate <= 0:
            return None
        return max(0, self.total - self.done) / self.rate

    def describe(self) -> str:
        """One line for a status bar, e.g. ``"4.2 of 9.9 MB, 1.3 MB/s, 5 s left"``."""
        if self.total is None:
            parts = [_amount(self.done)]
        else:
            unit, scale = _unit(self.total)
            parts = [f"{_scaled(self.done, scale, unit)} of {_scaled(self.total, scale, unit)} {unit}"]
        if self.rate > 0:
            parts.append(f"{_amount(self.rate)}/s")
        remaining = self.remaining_s
        if remaining is not None and self.total is not None and self.done < self.total:
            parts.append(f"{_duration(remaining)} left")
        return ", ".join(parts)


def _unit(amount: float) -> tuple[str, float]:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if amount >= scale:
            return unit, scale
    return "B", 1.0


def _scaled(amount: float, scale: float, unit: str) -> str:
    return f"{amount:.0f}" if unit == "B" else f"{amount / scale:.1f}"


def _amount(amount: float) -> str:
    unit, scale = _unit(amount)
    return f"{_scaled(amount, scale, unit)} {unit}"


def _duration(seconds: float) -> str:
    seconds = math.ceil(seconds)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{math.ceil(seconds / 60)} min"
    hours, minutes = divmod(math.ceil(seconds / 60), 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def sha256_of(path: Path) -> str:
    """The SHA-256 of the file at ``path``, as 64 lowercase hex digits.

    Raises
    ------
    DatasetError
        ``"<path>: cannot be read: …"``.
    """
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
    except OSError as exc:
        raise DatasetError(f"{path}: cannot be read: {exc.strerror or exc}") from None
    return digest.hexdigest()


def verify_file(path: Path, sha256: str, size: int | None = None) -> None:
    """Check that the file at ``path`` has the expected size and SHA-256.

    Parameters
    ----------
    path
        The file to check.
    sha256
        The expected SHA-256 as 64 hex digits (either case).
    size
        The expected size in bytes, checked first (it is cheap), or ``None``.

    Raises
    ------
    DatasetError
        Naming the file, what was expected and what was found.
    """
    path = Path(path)
    expected = _checked_sha256(sha256)
    if size is not None:
        try:
            found_size = path.stat().st_size
        except OSError as exc:
            raise DatasetError(f"{path}: cannot be read: {exc.strerror or exc}") from None
        if found_size != size:
            raise DatasetError(f"{path}: is {found_size:,} bytes, expected {size:,}")
    found = sha256_of(path)
    if found != expected:
        raise DatasetError(f"{path}: SHA-256 is {found}, expected {expected}")


def candidate_urls(urls: Sequence[str], file_name: str, mirror: str | None = None) -> list[str]:
    """The URLs to try for ``file_name``, a mirror's first.

    Parameters
    ----------
    urls
        The file's own URLs, in order of preference (a single string is one URL).
    file_name
        The file's name on the mirror.
    mirror
        A folder URL, e.g. ``"http://datasets.lab/"``; ``None`` reads the environment
        variable :data:`MIRROR_VARIABLE`, ``""`` means no mirror.

    Returns
    -------
    list[str]
        ``mirror.rstrip("/") + "/" + file_name`` when there is a mirror, then ``urls``
        in order, each URL once.
    """
    if mirror is None:
        mirror = os.environ.get(MIRROR_VARIABLE, "")
    mirror = mirror.strip()
    ordered = [mirror.rstrip("/") + "/" + file_name] if mirror else []
    ordered += [urls] if isinstance(urls, str) else list(urls)
    return list(dict.fromkeys(ordered))


def download(
    urls: str | Sequence[str],
    destination: Path,
    *,
    sha256: str | None = None,
    size: int | None = None,
    progress: Callable[[Progress], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
    timeout: float = 30.0,
    max_redirects: int = 5,
) -> Path:
    """Download a file to ``destination``, trying ``urls`` in turn.

    The bytes go to ``destination`` + ``".part"``; an existing part is resumed with a
    ``Range`` request (a server that answers with the whole file starts it over). The
    complete part is checked against ``size`` and ``sha256`` and only then renamed to
    ``destination``, replacing any file there. A part with a wrong checksum is deleted
    and the next URL is tried; a part cut short, stalled or cancelled is kept so that
    the next call resumes it.

    Parameters
    ----------
    urls
        One URL or several, tried in order (see :func:`candidate_urls` for a mirror);
        ``http`` and ``https`` only.
    destination
        Where the verified file ends up; its folder is created if needed.
    sha256
        The expected SHA-256 (64 hex digits), or ``None`` not to check it.
    size
        The expected size in bytes, or ``None`` not to check it.
    progress
        Called with a :class:`Progress` at most about ten times a second while bytes
        arrive, and once at the end of each request that completes the file
        (``done == total`` then).
    cancelled
        Asked between chunks; when it returns true the download stops with
        :class:`DownloadCancelled`.
    timeout
        Seconds to wait for a connection or for the next byte before giving up on a URL.
    max_redirects
        Redirects followed per request.

    Returns
    -------
    Path
        ``destination``.

    Raises
    ------
    DownloadCancelled
        When ``cancelled()`` returned true.
    DownloadError
        When no URL delivered the file: the message names each URL tried and why it
        failed (HTTP status, unreachable host, stall, cut connection, wrong size or
        checksum), or the local file that could not be written.
    """
    destination = Path(destination)
    sources = [urls] if isinstance(urls, str) else list(urls)
    if not sources:
        raise DownloadError(f"{destination}: no URL to download it from")
    expected_sha = _checked_sha256(sha256) if sha256 is not None else None
    if size is not None and size < 0:
        raise ValueError(f"size must be ≥ 0, got {size}")
    part = destination.with_name(destination.name + PART_SUFFIX)
    try:
        destination.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DownloadError(f"{destination.parent}: cannot be created: {exc.strerror or exc}") from None
    job = _Job(part, expected_sha, size, progress, cancelled, timeout, max_redirects)
    if job.part_is_complete():
        job.report(sources[0], size, size, 0.0)
        return _finish(part, destination)
    failures: list[DownloadError] = []
    for url in sources:
        job.check_cancelled(url)
        try:
            job.fetch(url)
        except (DownloadCancelled, _LocalError):
            raise
        except DownloadError as exc:
            failures.append(exc)
            continue
        return _finish(part, destination)
    if len(failures) == 1:
        raise failures[0]
    raise DownloadError(f"{destination.name}: every source failed: " + "; ".join(str(failure) for failure in failures))


def _checked_sha256(sha256: str) -> str:
    value = sha256.strip().lower()
    if not _SHA256.fullmatch(value):
        raise ValueError(f"a SHA-256 is 64 hex digits, got {sha256!r}")
    return value


def _finish(part: Path, destination: Path) -> Path:
    try:
        os.replace(part, destination)
    except OSError as exc:
        raise DownloadError(f"{destination}: cannot be written: {exc.strerror or exc}") from None
    _sync_folder(destination.parent)
    return destination


def _sync_folder(folder: Path) -> None:
    # Makes the rename durable; not every system can open a folder for this.
    if hasattr(os, "O_DIRECTORY"):
        with contextlib.suppress(OSError):
            fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """Hands redirects back as HTTPError so :meth:`_Job.open` follows them under its own rules."""

    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


@dataclass
class _Reply:
    """The part of an HTTP answer :class:`_Job` needs; ``body`` is ``None`` for a 416."""

    status: int
    headers: http.client.HTTPMessage
    body: http.client.HTTPResponse | None


class _Job:
    """One call of :func:`download`: the part file, the checks and the callbacks."""

    def __init__(
        self,
        part: Path,
        sha256: str | None,
        size: int | None,
        progress: Callable[[Progress], None] | None,
        cancelled: Callable[[], bool] | None,
        timeout: float,
        max_redirects: int,
    ) -> None:
        self.part = part
        self.sha256 = sha256
        self.size = size
        self.progress = progress
        self.cancelled = cancelled
        self.timeout = timeout
        self.max_redirects = max_redirects
        # ProxyHandler() without arguments reads HTTP(S)_PROXY and NO_PROXY.
        self.opener = urllib.request.build_opener(urllib.request.ProxyHandler(), _NoRedirects())

    def part_size(self) -> int:
        try:
            return self.part.stat().st_size
        except FileNotFoundError:
            return 0
        except OSError as exc:
            raise _LocalError(f"{self.part}: cannot be read: {exc.strerror or exc}") from None

    def part_sha256(self) -> str:
        try:
            return sha256_of(self.part)
        except DatasetError as exc:
            raise _LocalError(str(exc)) from None

    def drop_part(self) -> None:
        try:
            self.part.unlink(missing_ok=True)
        except OSError as exc:
            raise _LocalError(f"{self.part}: cannot be deleted: {exc.strerror or exc}") from None

    def part_is_complete(self) -> bool:
        """Whether a part left by an earlier call already is the verified file (no network needed)."""
        have = self.part_size()
        if self.size is not None and have > self.size:
            self.drop_part()
            return False
        if self.sha256 is None or self.size is None or have != self.size:
            return False
        if self.part_sha256() == self.sha256:
            return True
        self.drop_part()
        return False

    def check_cancelled(self, url: str, have: int | None = None) -> None:
        if self.cancelled is not None and self.cancelled():
            have = self.part_size() if have is None else have
            kept = f"; {have:,} bytes kept to resume" if have else ""
            raise DownloadCancelled(f"{url}: cancelled{kept}")

    def fetch(self, url: str) -> None:
        """Complete and verify the part from ``url``, or raise a DownloadError naming ``url``."""
        scheme = urllib.parse.urlsplit(url).scheme.lower()
        if scheme not in ("http", "https"):
            raise DownloadError(f"{url}: only http and https addresses are downloaded")
        # A second round starts from zero: after a useless range answer, or when a
        # resumed part fails its checksum (it may hold the start of an older file).
        for _ in range(2):
            outcome = self.receive(url)
            if outcome == "restart":
                self.drop_part()
                continue
            problem = self.mismatch()
            if problem is None:
                return
            self.drop_part()
            if outcome != "resumed":
                raise DownloadError(f"{url}: {problem}; the download was deleted")
        raise DownloadError(f"{url}: the server does not deliver the file from the start; the download was deleted")

    def mismatch(self) -> str | None:
        have = self.part_size()
        if self.size is not None and have != self.size:
            return f"the file is {have:,} bytes, expected {self.size:,}"
        if self.sha256 is not None:
            found = self.part_sha256()
            if found != self.sha256:
                return f"SHA-256 is {found}, expected {self.sha256}"
        return None

    def receive(self, url: str) -> str:
        """Bring the part to the end of the file.

        Returns ``"resumed"`` when bytes were appended to an earlier part (or it was
        complete already), ``"whole"`` when the file came from its first byte, and
        ``"restart"`` when the part must be dropped and fetched from zero.
        """
        have = self.part_size()
        reply = self.open(url, have)
        if reply.status == 416:
            # Nothing left to send: the part is complete if the server's size says so.
            match = _UNSATISFIED_RANGE.match(reply.headers.get("Content-Range", ""))
            complete = (match is not None and int(match.group(1)) == have) or (self.size == have)
            if not complete:
                return "restart"
            self.report(url, have, have, 0.0)
            return "resumed"
        assert reply.body is not None
        with contextlib.closing(reply.body):
            if reply.status == 206:
                match = _CONTENT_RANGE.match(reply.headers.get("Content-Range", ""))
                if match is None or int(match.group(1)) != have:
                    return "restart"
                total = None if match.group(3) == "*" else int(match.group(3))
                mode = "ab"
            elif reply.status == 200:
                have = 0
                length = reply.headers.get("Content-Length", "")
                total = int(length) if length.isdigit() else None
                mode = "wb"
            else:
                raise DownloadError(f"{url}: HTTP {reply.status} {reply.body.reason}, which is not a file")
            if total is not None and self.size is not None and total != self.size:
                raise DownloadError(f"{url}: the server announces {total:,} bytes, expected {self.size:,}")
            self.stream(url, reply.body, mode, have, total)
        return "resumed" if mode == "ab" and have else "whole"

    def stream(self, url: str, body: http.client.HTTPResponse, mode: str, done: int, total: int | None) -> None:
        of_total = f" of {total:,}" if total is not None else ""
        started = time.monotonic()
        received = 0
        last_report = -math.inf
        reported: tuple[int, int | None] | None = None
        try:
            out = open(self.part, mode)  # noqa: SIM115 - closed in the finally below
        except OSError as exc:
            raise _LocalError(f"{self.part}: cannot be written: {exc.strerror or exc}") from None
        # Reports that the interval held back are sent by the watch once the stream goes quiet, so
        # a server that pauses after a burst does not leave the last figures shown stale.
        held = _HeldReport(self.progress)
        watch = _ReadWatch(body, self.cancelled, held.flush) if self.cancelled or self.progress else None
        try:
            while True:
                self.check_cancelled(url, done)
                try:
                    chunk = body.read1(CHUNK_BYTES)
                except TimeoutError:
                    self.check_cancelled(url, done)
                    raise DownloadError(
                        f"{url}: stalled: no data for {self.timeout:g} s at {done:,}{of_total} bytes; "
                        "get it again to resume"
                    ) from None
                except (OSError, http.client.HTTPException) as exc:
                    self.check_cancelled(url, done)  # the watch shut the socket down
                    raise DownloadError(
                        f"{url}: connection cut at {done:,}{of_total} bytes ({_reason(exc)}); get it again to resume"
                    ) from None
                if not chunk:
                    self.check_cancelled(url, done)
                    break
                _write(out, chunk, self.part)
                done += len(chunk)
                received += len(chunk)
                if self.size is not None and done > self.size:
                    out.close()
                    self.drop_part()
                    raise DownloadError(
                        f"{url}: sends more than the expected {self.size:,} bytes; the download was deleted"
                    )
                now = time.monotonic()
                if now - last_report >= PROGRESS_INTERVAL_S:
                    last_report, reported = now, (done, total)
                    held.clear()
                    self.report(url, done, total, _rate(received, now - started))
                else:
                    held.hold(Progress(url, done, total, _rate(received, now - started)))
            try:
                out.flush()
                os.fsync(out.fileno())
            except OSError as exc:
                raise _LocalError(f"{self.part}: cannot be written: {exc.strerror or exc}") from None
        finally:
            if watch is not None:
                watch.stop()
            out.close()
        if total is not None and done < total:
            raise DownloadError(f"{url}: connection cut at {done:,} of {total:,} bytes; get it again to resume")
        if reported != (done, done):  # a file that came in one chunk was reported complete already
            self.report(url, done, done, _rate(received, time.monotonic() - started))

    def report(self, url: str, done: int, total: int | None, rate: float) -> None:
        if self.progress is not None:
            self.progress(Progress(url, done, total, rate))

    def open(self, url: str, offset: int) -> _Reply:
        """Send the request (with ``Range`` from ``offset``), following redirects."""
        current = url
        seen = {url}
        headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
        if offset:
            headers["Range"] = f"bytes={offset}-"
        while True:
            request = urllib.request.Request(current, headers=headers)
            try:
                response = self.opener.open(request, timeout=self.timeout)
            except urllib.error.HTTPError as exc:
                with contextlib.closing(exc):
                    status, reason, answer = exc.code, exc.reason, exc.headers
            except urllib.error.URLError as exc:
                raise _unreachable(url, current, exc.reason) from None
            except TimeoutError:
                raise DownloadError(f"{url}: stalled: no answer for {self.timeout:g} s") from None
            except (ValueError, http.client.InvalidURL) as exc:
                raise DownloadError(f"{url}: is not a valid address: {exc}") from None
            except (OSError, http.client.HTTPException) as exc:
                raise DownloadError(f"{url}: the server's answer is broken: {_reason(exc)}") from None
            else:
                return _Reply(response.status, response.headers, response)
            if status == 416 and offset:
                return _Reply(416, answer, None)
            location = answer.get("Location") if status in _REDIRECT_CODES else None
            if location is None:
                via = f" (redirected to {current})" if current != url else ""
                raise DownloadError(f"{url}: HTTP {status} {reason}{via}")
            current = self.redirect(url, current, location, seen)

    def redirect(self, url: str, current: str, location: str, seen: set[str]) -> str:
        """The URL a redirect from ``current`` leads to, once it is known to be allowed."""
        target = urllib.parse.urljoin(current, location)
        if urllib.parse.urlsplit(target).scheme.lower() not in ("http", "https"):
            raise DownloadError(f"{url}: redirects to {target}, which is not an http or https address")
        if target in seen:
            raise DownloadError(f"{url}: redirect loop through {target}")
        if len(seen) > self.max_redirects:
            raise DownloadError(f"{url}: more than {self.max_redirects} redirects")
        seen.add(target)
        return target


def _unreachable(url: str, current: str, reason: object) -> DownloadError:
    host = urllib.parse.urlsplit(current).hostname or current
    if isinstance(reason, ssl.SSLError):
        return DownloadError(f"{url}: no secure connection to {host}: {_reason(reason)}")
    if isinstance(reason, TimeoutError):
        return DownloadError(f"{url}: cannot reach {host}: no answer (no network?)")
    return DownloadError(f"{url}: cannot reach {host}: {_reason(reason)} (no network?)")


def _reason(exc: object) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return str(exc.reason)
    text = str(exc)
    return text or type(exc).__name__


def _rate(received: int, elapsed: float) -> float:
    return received / elapsed if elapsed > 0 else 0.0


def _write(out: BinaryIO, chunk: bytes, part: Path) -> None:
    try:
        out.write(chunk)
    except OSError as exc:
        raise _LocalError(f"{part}: cannot be written: {exc.strerror or exc}") from None


class _HeldReport:
    """The latest progress report the interval held back, sent by :class:`_ReadWatch` when the stream pauses."""

    def __init__(self, progress: Callable[[Progress], None] | None) -> None:
        self._progress = progress
        self._lock = threading.Lock()
        self._report: Progress | None = None
        self._since = 0.0

    def hold(self, report: Progress) -> None:
        with self._lock:
            if self._report is None:
                self._since = time.monotonic()
            self._report = report

    def clear(self) -> None:
        with self._lock:
            self._report = None

    def flush(self) -> None:
        with self._lock:
            report = self._report if time.monotonic() - self._since >= PROGRESS_INTERVAL_S else None
            if report is not None:
                self._report = None
                if self._progress is not None:
                    self._progress(report)


class _ReadWatch:
    """Watches a running read: sends held-back progress, and wakes a read blocked on a silent
    server when the caller cancels, by shutting the socket down.

    ``cancelled`` is polled between chunks too, but a server that stops sending leaves the
    read waiting up to the time-out; a person pressing Cancel should not wait that long.
    """

    def __init__(
        self, body: http.client.HTTPResponse, cancelled: Callable[[], bool] | None, tick: Callable[[], None]
    ) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, args=(body, cancelled, tick), daemon=True)
        self._thread.start()

    def _watch(
        self, body: http.client.HTTPResponse, cancelled: Callable[[], bool] | None, tick: Callable[[], None]
    ) -> None:
        while not self._stop.wait(CANCEL_POLL_S):
            tick()
            if cancelled is not None and cancelled():
                # http.client reads through a socket.SocketIO, which keeps its socket as ``_sock``.
                sock = getattr(getattr(getattr(body, "fp", None), "raw", None), "_sock", None)
                if isinstance(sock, socket.socket):
                    with contextlib.suppress(OSError):
                        sock.shutdown(socket.SHUT_RDWR)
                return

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

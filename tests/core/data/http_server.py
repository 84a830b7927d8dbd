"""A small HTTP server on 127.0.0.1 for download tests, with misbehaviours on demand.

>>> with LocalServer({"/a.bin": b"abc"}) as server:
...     server.serve("/b.bin", b"0123456789", cut_after=4)
...     url = server.url("/a.bin")

Each path serves its bytes with ``Content-Length`` and honours ``Range: bytes=N-``
(206, or 416 past the end) unless told otherwise:

- ``status=404`` (any code): answers that status with a short body;
- ``redirect_to="/other"`` (a path or a full URL): answers 302 to it;
- ``cut_after=N``: announces the full length, sends ``N`` bytes and closes;
- ``stall_after=N``: sends ``N`` bytes, then waits, sending nothing, until the
  server stops (at most :data:`MAX_STALL_S`); keep the client's timeout short;
- ``no_range=True``: ignores ``Range`` and always sends the whole body (200).

Every request is recorded in :attr:`LocalServer.requests` as a :class:`Seen`.
Tests behind a proxy should call :func:`bypass_proxies` so that urllib talks to
127.0.0.1 directly.
"""

from __future__ import annotations

import re
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MAX_STALL_S = 10.0
"""A stalling answer gives up after this long even if the server is not stopped."""
PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")


@dataclass(frozen=True)
class Resource:
    """What a path serves and how; see the module's docstring for the behaviours."""

    body: bytes = b""
    status: int = 200
    redirect_to: str | None = None
    cut_after: int | None = None
    stall_after: int | None = None
    no_range: bool = False


@dataclass(frozen=True)
class Seen:
    """One request the server received: its path, its ``Range`` header and all its headers."""

    path: str
    range: str | None
    headers: dict[str, str] = field(default_factory=dict)


class LocalServer:
    """A threaded HTTP server on a free port of 127.0.0.1, stopped on leaving the ``with`` block.

    Parameters
    ----------
    files
        ``{path: bytes}`` served normally; add more (or change a path's behaviour)
        with :meth:`serve`.
    """

    def __init__(self, files: dict[str, bytes] | None = None) -> None:
        self._resources: dict[str, Resource] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self.requests: list[Seen] = []
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.owner = self
        for path, body in (files or {}).items():
            self.serve(path, body)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> LocalServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Release stalled answers, stop serving and close the socket."""
        self._stopping.set()
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(timeout=5)
        self._server.server_close()

    def serve(self, path: str, body: bytes = b"", **behaviour: Any) -> str:
        """Serve ``body`` at ``path`` (from now on, replacing what was there) and return its URL.

        ``behaviour`` takes the fields of :class:`Resource`: ``status``,
        ``redirect_to``, ``cut_after``, ``stall_after``, ``no_range``. A client
        using the server as its proxy asks for full URLs: serve those as paths.
        """
        if not path.startswith(("/", "http://")):
            raise ValueError(f"a path starts with '/' (or is a full http:// URL), got {path!r}")
        with self._lock:
            self._resources[path] = Resource(body, **behaviour)
        return self.url(path)

    def url(self, path: str) -> str:
        """``http://127.0.0.1:<port><path>``."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}{path}"

    def ranges(self, path: str) -> list[str | None]:
        """The ``Range`` header of each request for ``path``, in order (``None`` when absent)."""
        with self._lock:
            return [seen.range for seen in self.requests if seen.path == path]

    def _record(self, seen: Seen) -> Resource | None:
        with self._lock:
            self.requests.append(seen)
            return self._resources.get(seen.path)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: LocalServer


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        owner = self.server.owner
        path = self.path.split("?", 1)[0]
        resource = owner._record(Seen(path, self.headers.get("Range"), dict(self.headers.items())))
        self.close_connection = True
        if resource is None:
            self._answer(404, b"no such path")
        elif resource.redirect_to is not None:
            self.send_response(302)
            self.send_header("Location", resource.redirect_to)
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif resource.status != 200:
            self._answer(resource.status, b"refused on purpose")
        else:
            self._send_body(resource, owner._stopping)

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _send_body(self, resource: Resource, stopping: threading.Event) -> None:
        body, size = resource.body, len(resource.body)
        match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
        if match and not resource.no_range:
            start = int(match.group(1))
            if start >= size:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{size - 1}/{size}")
            body = body[start:]
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            if resource.cut_after is not None:
                self.wfile.write(body[: resource.cut_after])
                # Shut the socket at once, so the client sees the end before the full length.
                self.connection.shutdown(socket.SHUT_RDWR)
            elif resource.stall_after is not None:
                self.wfile.write(body[: resource.stall_after])
                stopping.wait(MAX_STALL_S)
            else:
                self.wfile.write(body)
        except OSError:
            pass  # the client hung up first, as a cancelled or timed-out download does


def bypass_proxies(monkeypatch: Any) -> None:
    """Make urllib connect to 127.0.0.1 directly, whatever proxy the environment names."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


def unreachable_url(path: str = "/file.bin") -> str:
    """A URL on 127.0.0.1 at a port that was free a moment ago, so connecting is refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}{path}"

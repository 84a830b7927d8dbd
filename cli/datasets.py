"""``layerwise datasets``: list, fetch, locate and remove the datasets Layerwise fetches by name."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from core.data.catalogue import CATALOGUE, catalogue_entry, describe_size
from core.data.download import MIRROR_VARIABLE, DownloadCancelled, Progress
from core.data.store import (
    FROM_CATALOGUE,
    dataset_path,
    datasets_dir,
    drop_dir,
    fetch,
    fetch_url,
    installed,
    not_here_message,
    remove,
)
from core.errors import LayerwiseError

EXIT_OK, EXIT_CANCELLED = 0, 130
BAR_WIDTH = 24
PLAIN_INTERVAL_S = 5.0
"""Off a terminal, a progress line is printed at most this often (and once per finished file)."""


def add_parser(commands: argparse._SubParsersAction) -> None:
    datasets = commands.add_parser(
        "datasets",
        help="list, download, locate and remove datasets fetched by name (mnist, cifar10, …)",
        description="Datasets of the catalogue (MNIST, Fashion-MNIST, KMNIST, CIFAR-10, CIFAR-100) are downloaded "
        "once, verified against their SHA-256, and then used by name: layerwise train NETWORK --dataset mnist. "
        f"They are kept in {datasets_dir()} ($LAYERWISE_DATA_DIR/datasets when that is set).",
    )
    actions = datasets.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="the catalogue and what is on this computer")
    listing.set_defaults(handler=run_list)
    get = actions.add_parser(
        "get",
        help="download a catalogue dataset, or any file in a format Layerwise reads",
        description="Download NAME from the catalogue, or URL (with --sha256 and --name): an .npz file, a "
        "CIFAR-style batch, IDX .gz files or a .zip/.tar/.tar.gz of an IDX folder, CIFAR batches or class "
        "folders of images. Prints the path of the dataset. Ctrl-C stops; get again resumes.",
    )
    get.add_argument("source", metavar="NAME|URL", help="a catalogue name or an http(s) URL")
    get.add_argument("--sha256", metavar="HEX", help="with a URL: the file's SHA-256 (required)")
    get.add_argument("--name", metavar="NAME", help="with a URL: the name to use it by (required)")
    get.add_argument(
        "--mirror",
        metavar="URL",
        help=f"a server holding the same files by name, tried first (default: ${MIRROR_VARIABLE})",
    )
    get.set_defaults(handler=run_get)
    path = actions.add_parser("path", help="print where a fetched dataset is (what --dataset imports)")
    path.add_argument("name", metavar="NAME")
    path.set_defaults(handler=run_path)
    delete = actions.add_parser("remove", help="delete a fetched dataset and its downloads")
    delete.add_argument("name", metavar="NAME")
    delete.set_defaults(handler=run_remove)


def run_list(args: argparse.Namespace) -> int:
    here = {item.name: item for item in installed()}
    rows = [("NAME", "DATASET", "DOWNLOAD", "SPLIT", "ON THIS COMPUTER")]
    for name, entry in CATALOGUE.items():
        stored = here.get(name)
        on_disk = f"yes, {describe_size(stored.bytes)}" if stored else "no"
        rows.append((name, entry.title, describe_size(entry.size), entry.split, on_disk))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)) + "  " + row[-1])
    others = [item for item in here.values() if item.name not in CATALOGUE or item.source != FROM_CATALOGUE]
    if others:
        print("\nOther datasets on this computer:")
        width = max(len(item.name) for item in others)
        for item in others:
            print(f"{item.name.ljust(width)}  {describe_size(item.bytes):>9}  from {item.source}")
    print(f"\nStored in {datasets_dir()}")
    return EXIT_OK


def run_get(args: argparse.Namespace) -> int:
    is_url = "://" in args.source
    if is_url and (not args.sha256 or not args.name):
        raise LayerwiseError("get URL needs --sha256 HEX (the file's checksum) and --name NAME (what to call it)")
    if not is_url and (args.sha256 or args.name):
        raise LayerwiseError(
            f"--sha256 and --name go with a URL; catalogue datasets carry their own ({', '.join(CATALOGUE)})"
        )
    name = args.name if is_url else catalogue_entry(args.source).name
    printer = DownloadPrinter(sys.stderr)
    try:
        with cancel_on_interrupt() as cancelled:
            if is_url:
                path = fetch_url(
                    args.source, args.sha256, name, progress=printer.show, cancelled=cancelled, mirror=args.mirror
                )
            else:
                path = fetch(name, progress=printer.show, cancelled=cancelled, mirror=args.mirror)
    except (DownloadCancelled, KeyboardInterrupt):
        printer.end()
        print(
            f"layerwise: download cancelled; what was received is kept in {drop_dir(name)}: "
            f"run the same 'layerwise datasets get' again to resume",
            file=sys.stderr,
        )
        return EXIT_CANCELLED
    finally:
        printer.end()
    print(path)
    return EXIT_OK


def run_path(args: argparse.Namespace) -> int:
    path = dataset_path(args.name)
    if path is None:
        raise LayerwiseError(not_here_message(args.name))
    print(path)
    return EXIT_OK


def run_remove(args: argparse.Namespace) -> int:
    sizes = {item.name: item.bytes for item in installed()}
    folder = remove(args.name)
    print(f"removed {args.name} ({describe_size(sizes.get(args.name, 0))}) from {folder}")
    return EXIT_OK


@contextmanager
def cancel_on_interrupt() -> Iterator[Callable[[], bool]]:
    """A ``cancelled()`` that turns true at the first Ctrl-C, so the download stops between chunks.

    A second Ctrl-C interrupts at once. Outside the main thread (where signals cannot be
    caught) Ctrl-C keeps its usual effect.
    """
    event = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield event.is_set
        return

    def first_interrupt(signum: int, frame: object) -> None:
        event.set()
        signal.signal(signal.SIGINT, signal.default_int_handler)

    previous = signal.signal(signal.SIGINT, first_interrupt)
    try:
        yield event.is_set
    finally:
        signal.signal(signal.SIGINT, previous)


class DownloadPrinter:
    """Shows download progress on ``stream``: a bar redrawn in place on a terminal, else a line now and then."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.live = stream.isatty()
        self.drawn = False
        self.last_url = ""
        self.last_plain = -float("inf")

    def show(self, progress: Progress) -> None:
        file = Path(urllib.parse.urlsplit(progress.url).path).name or progress.url
        finished = progress.total is not None and progress.done >= progress.total
        if self.live:
            self.stream.write(f"\r\033[K{file} {self._bar(progress)} {progress.describe()}")
            self.drawn = True
            if finished:
                self.end()
            else:
                self.stream.flush()
            return
        now = time.monotonic()
        new_file = progress.url != self.last_url
        if finished or new_file or now - self.last_plain >= PLAIN_INTERVAL_S:
            self.stream.write(f"{file}: {progress.describe()}{' (done)' if finished else ''}\n")
            self.stream.flush()
            self.last_plain = now
        self.last_url = progress.url

    def end(self) -> None:
        """Finish a bar drawn in place, so that what follows starts on its own line."""
        if self.drawn:
            self.stream.write("\n")
            self.stream.flush()
            self.drawn = False

    @staticmethod
    def _bar(progress: Progress) -> str:
        if not progress.total:
            return "░" * BAR_WIDTH
        filled = min(BAR_WIDTH, int(progress.done / progress.total * BAR_WIDTH))
        return "█" * filled + "░" * (BAR_WIDTH - filled)

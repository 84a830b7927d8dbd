"""Datasets on this computer: where they live, fetching them, listing and removing them.

Everything lives under :func:`data_root` (``$LAYERWISE_DATA_DIR``, else the per-user data
folder the app uses for its logs and recovery files)::

    datasets/
        downloads/<name>/      files being downloaded (.part) or dropped here by hand
        <name>/                one fetched dataset, with layerwise-dataset.json
        .<name>.*              a dataset being assembled (never read)

A fetched dataset appears in one :func:`os.replace`, complete or not at all. Each of its
files is verified (SHA-256 and size) before use, whether it was downloaded or dropped
into :func:`drop_dir` from elsewhere; once the dataset is assembled, IDX files move from
the downloads folder into the dataset's folder and archives are unpacked and deleted.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
import urllib.parse
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.data.archives import archive_kind, unpack
from core.data.catalogue import CATALOGUE, CatalogueEntry, RemoteFile, catalogue_entry, describe_size
from core.data.dataset import Dataset, DatasetError
from core.data.download import DownloadCancelled, DownloadError, Progress, candidate_urls, download, verify_file
from core.data.importers import dataset_kind, import_dataset

DATA_DIR_VARIABLE = "LAYERWISE_DATA_DIR"
"""Environment variable naming the folder for logs, recovery files and datasets."""
APP_NAME = "Layerwise"
"""Organisation and application name, as the app gives them to Qt (``gui/app.py``)."""
MANIFEST = "layerwise-dataset.json"
"""The file in a fetched dataset's folder that records where it came from."""
DOWNLOADS = "downloads"
FROM_CATALOGUE = "catalogue"
""":attr:`InstalledDataset.source` of a dataset fetched by its catalogue name."""
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_MD5_CHUNK = 1 << 20

ProgressCallback = Callable[[Progress], None]


def data_root() -> Path:
    """Where Layerwise keeps its logs, recovery files and datasets (not created here).

    ``$LAYERWISE_DATA_DIR`` when set; otherwise the folder Qt's ``AppDataLocation`` gives
    the app (organisation and application both "Layerwise"): ``%APPDATA%\\Layerwise\\Layerwise``
    on Windows, ``~/Library/Application Support/Layerwise/Layerwise`` on macOS and
    ``$XDG_DATA_HOME/Layerwise/Layerwise`` (``~/.local/share/…`` when unset or relative) elsewhere.
    """
    override = os.environ.get(DATA_DIR_VARIABLE)
    if override:
        return Path(override)
    home = Path.home()
    if sys.platform == "win32":
        base = Path(os.environ.get("APPDATA") or home / "AppData" / "Roaming")
    elif sys.platform == "darwin":
        base = home / "Library" / "Application Support"
    else:
        xdg = os.environ.get("XDG_DATA_HOME", "")
        base = Path(xdg) if xdg and os.path.isabs(xdg) else home / ".local" / "share"
    return base / APP_NAME / APP_NAME


def datasets_dir() -> Path:
    """The folder holding fetched datasets: ``data_root()/datasets``."""
    return data_root() / "datasets"


def drop_dir(name: str) -> Path:
    """Where the files of dataset ``name`` are downloaded, and where copies fetched elsewhere may be put.

    A file found here is verified like a download before it is used.
    """
    return datasets_dir() / DOWNLOADS / _checked_name(name)


@dataclass(frozen=True)
class InstalledDataset:
    """A dataset on this computer.

    Parameters
    ----------
    name
        What ``--dataset`` takes.
    path
        What :func:`~core.data.importers.import_dataset` reads (a folder or a file).
    bytes
        Disk space taken by its folder.
    source
        :data:`FROM_CATALOGUE` or the URL it was fetched from.
    """

    name: str
    path: Path
    bytes: int
    source: str


def installed() -> list[InstalledDataset]:
    """The fetched datasets, catalogue ones first in catalogue order, then the others by name."""
    root = datasets_dir()
    try:
        folders = [p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".") and p.name != DOWNLOADS]
    except OSError:
        return []
    order = {name: i for i, name in enumerate(CATALOGUE)}
    found = []
    for folder in sorted(folders, key=lambda p: (order.get(p.name, len(order)), p.name)):
        record = _read_manifest(folder)
        if record is None:
            continue
        found.append(InstalledDataset(folder.name, folder / record["data"], _folder_bytes(folder), record["source"]))
    return found


def dataset_path(name: str) -> Path | None:
    """What to import for the fetched dataset ``name``, or ``None`` when it is not on this computer."""
    if not _NAME.fullmatch(name) or name == DOWNLOADS:
        return None
    folder = datasets_dir() / name
    record = _read_manifest(folder)
    return None if record is None else folder / record["data"]


def load_fetched(name: str) -> Dataset:
    """Read the fetched dataset ``name`` (CIFAR-100 with the labels its entry names).

    Raises
    ------
    DatasetError
        When it is not on this computer, or its files cannot be read.
    """
    path = dataset_path(name)
    if path is None:
        raise DatasetError(not_here_message(name))
    record = _read_manifest(datasets_dir() / name) or {}
    labels = record.get("labels", "")
    data = import_dataset(path, cifar100_labels=labels) if labels else import_dataset(path)
    data.name = name
    for split in ("test", "val"):
        part = getattr(data, split, None)
        if part is not None:
            part.name = f"{name} {split}"
    return data


def not_here_message(name: str) -> str:
    """What to say when ``name`` is asked for but not fetched: the command that fetches it, or that it is unknown."""
    entry = CATALOGUE.get(name)
    if entry is None:
        return f"{name!r} is not on this computer and not in the catalogue (datasets: {', '.join(CATALOGUE)})"
    return f"{name!r} is not on this computer yet: layerwise datasets get {name} (about {describe_size(entry.size)})"


def fetch(
    name: str,
    *,
    progress: ProgressCallback | None = None,
    cancelled: Callable[[], bool] | None = None,
    mirror: str | None = None,
) -> Path:
    """Make the catalogue dataset ``name`` available and return what to import.

    Each file is taken from :func:`drop_dir` when a verified copy is there, else
    downloaded into it (``mirror`` or ``$LAYERWISE_DATASETS_MIRROR`` first, then the
    entry's URLs; an interrupted download resumes). The dataset's folder is then
    assembled beside its final place and moved there in one step.

    Parameters
    ----------
    name
        A catalogue name.
    progress
        Called with each :class:`~core.data.download.Progress` report.
    cancelled
        Polled during downloads; when it returns true the download stops with
        :class:`~core.data.download.DownloadCancelled`, keeping what was received.
    mirror
        A base URL tried first for every file.

    Raises
    ------
    DatasetError
        For an unknown name; :class:`~core.data.download.DownloadError` naming the URLs
        tried and the drop folder when no copy can be had.
    """
    entry = catalogue_entry(name)
    existing = dataset_path(name)
    if existing is not None:
        return existing
    record = {
        "name": name,
        "title": entry.title,
        "source": FROM_CATALOGUE,
        "reader": entry.reader,
        "labels": entry.labels,
        "files": [_file_record(remote.name, remote.urls, remote.sha256, remote.size) for remote in entry.files],
    }
    twin = _installed_twin(entry)
    if twin is not None:  # cifar100 and cifar100-coarse: one archive, two label sets
        return _assemble_from_twin(name, twin, record)
    files = [_obtain(name, remote, progress, cancelled, mirror) for remote in entry.files]
    return _assemble(name, files, record, entry)


def fetch_url(
    url: str,
    sha256: str,
    name: str,
    *,
    size: int | None = None,
    progress: ProgressCallback | None = None,
    cancelled: Callable[[], bool] | None = None,
    mirror: str | None = None,
) -> Path:
    """Fetch one file in a format Layerwise reads and keep it as dataset ``name``.

    Formats: an ``.npz`` file, a CIFAR-style batch file, an IDX ``.gz`` file, or a
    ``.zip``, ``.tar`` or ``.tar.gz`` archive holding an IDX folder, CIFAR batches or one
    folder of images per class (a single top-level folder in the archive is looked into).

    Parameters
    ----------
    url
        An ``http(s)`` URL whose last path part is the file's name.
    sha256
        The file's SHA-256; required, so that what is fetched is what was meant.
    name
        The dataset's name (letters, digits, ``.``, ``_``, ``-``; not a catalogue name).
    size, progress, cancelled, mirror
        As for :func:`fetch` (``size``: the expected byte count, when known).

    Raises
    ------
    DatasetError
        For a bad name, URL or checksum, a name already taken, or a file in no format Layerwise reads.
    """
    name = _checked_name(name)
    if name in CATALOGUE:
        raise DatasetError(f"{name!r} is a catalogue dataset: layerwise datasets get {name}; choose another --name")
    sha256 = sha256.strip().lower()
    if not _SHA256.fullmatch(sha256):
        raise DatasetError(f"--sha256 must be 64 hexadecimal digits, got {sha256!r}")
    parts = urllib.parse.urlsplit(url)
    file_name = os.path.basename(urllib.parse.unquote(parts.path))
    if parts.scheme not in ("http", "https") or not parts.netloc or not _NAME.fullmatch(file_name):
        raise DatasetError(f"{url}: needs an http(s) URL ending in the file's name (such as …/digits.npz)")
    existing = dataset_path(name)
    if existing is not None:
        record = _read_manifest(datasets_dir() / name) or {}
        if any(f.get("sha256") == sha256 for f in record.get("files", [])):
            return existing
        raise DatasetError(f"{name!r} is already on this computer from elsewhere: layerwise datasets remove {name}")
    remote = RemoteFile(file_name, (url,), sha256, size if size is not None else 0)
    files = [_obtain(name, remote, progress, cancelled, mirror)]
    record = {
        "name": name,
        "title": name,
        "source": url,
        "reader": "",
        "labels": "",
        "files": [_file_record(file_name, (url,), sha256, files[0].stat().st_size)],
    }
    return _assemble(name, files, record, None)


def remove(name: str) -> Path:
    """Delete the fetched dataset ``name`` and its downloads folder; returns the folder removed.

    Raises
    ------
    DatasetError
        When ``name`` is not on this computer.
    """
    folder = datasets_dir() / _checked_name(name)
    if _read_manifest(folder) is None:
        raise DatasetError(f"{name!r} is not on this computer (layerwise datasets list shows what is)")
    # Renamed first, so that a failure half way leaves no half dataset under its name.
    doomed = Path(tempfile.mkdtemp(prefix=f".{name}.removing-", dir=datasets_dir()))
    os.replace(folder, doomed / name)
    shutil.rmtree(doomed, ignore_errors=True)
    shutil.rmtree(drop_dir(name), ignore_errors=True)
    return folder


# --- helpers ------------------------------------------------------------------------------------


def _checked_name(name: str) -> str:
    if not _NAME.fullmatch(name) or name == DOWNLOADS:
        raise DatasetError(
            f"{name!r} cannot name a dataset: use letters, digits, '.', '_' and '-' (at most 64, not 'downloads')"
        )
    return name


def _file_record(name: str, urls: Iterable[str], sha256: str, size: int) -> dict[str, object]:
    return {"name": name, "urls": list(urls), "sha256": sha256, "size": size}


def _read_manifest(folder: Path) -> dict[str, Any] | None:
    """The manifest of a fetched dataset's folder, or ``None`` when there is none or it is unreadable."""
    try:
        record = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict):
        return None
    data = record.get("data")
    if not isinstance(data, str) or Path(data).is_absolute() or ".." in Path(data).parts:
        return None
    record.setdefault("source", "")
    return record


def _folder_bytes(folder: Path) -> int:
    total = 0
    for directory, _dirs, files in os.walk(folder):
        for file in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(directory, file)).st_size
    return total


def _obtain(
    name: str,
    remote: RemoteFile,
    progress: ProgressCallback | None,
    cancelled: Callable[[], bool] | None,
    mirror: str | None,
) -> Path:
    """A verified copy of ``remote`` in :func:`drop_dir`: the one dropped there, or a fresh download."""
    folder = drop_dir(name)
    target = folder / remote.name
    size = remote.size or None
    refused = ""
    if target.is_file():
        try:
            verify_file(target, remote.sha256, size)
            _check_md5(target, remote)
            return target
        except DatasetError as exc:
            # A damaged or different copy: set aside (not deleted) and downloaded again.
            os.replace(target, target.with_name(f"{remote.name}.refused"))
            refused = (
                f" (the copy that was there is not the expected file and was renamed {remote.name}.refused: {exc})"
            )
    folder.mkdir(parents=True, exist_ok=True)
    urls = candidate_urls(remote.urls, remote.name, mirror)
    try:
        path = download(urls, target, sha256=remote.sha256, size=size, progress=progress, cancelled=cancelled)
    except DownloadCancelled:
        raise
    except DownloadError as exc:
        raise DownloadError(
            f"{exc}. Without a connection, fetch {remote.name} elsewhere (SHA-256 {remote.sha256}) "
            f"and put it into {folder}, then run again{refused}"
        ) from None
    try:
        _check_md5(path, remote)
    except DatasetError as exc:
        path.unlink(missing_ok=True)
        raise DatasetError(f"{exc}; the download was deleted") from None
    return path


def _check_md5(path: Path, remote: RemoteFile) -> None:
    if not remote.md5:
        return
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        while chunk := handle.read(_MD5_CHUNK):
            digest.update(chunk)
    if digest.hexdigest() != remote.md5:
        raise DatasetError(f"{path}: MD5 is {digest.hexdigest()}, expected {remote.md5}")


def _assemble(name: str, files: list[Path], record: dict[str, object], entry: CatalogueEntry | None) -> Path:
    """Build the dataset's folder beside its final place from the verified ``files``, then move it there."""
    final = datasets_dir() / name
    if final.exists():
        raise DatasetError(f"{final}: is in the way and is not a fetched dataset; move it elsewhere, then run again")
    staging = Path(tempfile.mkdtemp(prefix=f".{name}.assembling-", dir=datasets_dir()))
    try:
        content = staging / "content"
        content.mkdir()
        archives = []
        for file in files:
            kind = "" if file.name.lower().endswith(".npz") else archive_kind(file)
            if kind in ("tar.gz", "tar", "zip"):
                unpack(file, content / f".unpacked-{len(archives)}")
                archives.append(file)
            else:
                _link_or_copy(file, content / file.name)
        data = _data_path(content, entry)
        kind = dataset_kind(data)
        record["data"] = data.relative_to(content).as_posix() if data != content else "."
        if entry is None:
            record["reader"] = kind
        (content / MANIFEST).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        try:
            os.replace(content, final)
        except OSError:
            # Another process assembled the same dataset meanwhile: theirs is as good.
            if dataset_path(name) is None:
                raise
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    shutil.rmtree(staging, ignore_errors=True)
    for file in files:
        file.unlink(missing_ok=True)
    _remove_empty(drop_dir(name))
    return final / str(record["data"])


def _data_path(content: Path, entry: CatalogueEntry | None) -> Path:
    """The folder (or file) in ``content`` that holds the data."""
    unpacked = sorted(content.glob(".unpacked-*"))
    if not unpacked:
        files = [p for p in content.iterdir() if p.name != MANIFEST]
        return files[0] if entry is None and len(files) == 1 else content
    if len(unpacked) > 1:
        raise DatasetError(f"{content}: a dataset of several archives is not supported")
    # The archive's content takes the place of the marker folder: a single top-level
    # folder keeps its name (cifar-10-batches-py), several entries stay in "data".
    source = unpacked[0]
    if entry is not None and entry.folder:
        inner = source / entry.folder
        if not inner.is_dir():
            raise DatasetError(f"{entry.name}: the archive holds no {entry.folder} folder")
        os.replace(inner, content / entry.folder)
        shutil.rmtree(source)
        return content / entry.folder
    while True:
        entries = [p for p in source.iterdir() if not p.name.startswith(".") and p.name != "__MACOSX"]
        if len(entries) == 1 and entries[0].is_dir():
            source = entries[0]
            continue
        break
    target = content / (source.name if source != unpacked[0] else "data")
    os.replace(source, target)
    shutil.rmtree(unpacked[0], ignore_errors=True)
    return target


def _installed_twin(entry: CatalogueEntry) -> Path | None:
    """The folder of a fetched dataset made from exactly ``entry``'s files by the same reader, if any."""
    wanted = sorted(remote.sha256 for remote in entry.files)
    for item in installed():
        folder = datasets_dir() / item.name
        record = _read_manifest(folder) or {}
        files = record.get("files")
        if record.get("reader") != entry.reader or not isinstance(files, list):
            continue
        if sorted(str(f.get("sha256")) for f in files if isinstance(f, dict)) == wanted:
            return folder
    return None


def _assemble_from_twin(name: str, twin: Path, record: dict[str, object]) -> Path:
    """Build ``name``'s folder from a fetched twin's files (hard links where the disk allows), its own manifest."""
    final = datasets_dir() / name
    if final.exists():
        raise DatasetError(f"{final}: is in the way and is not a fetched dataset; move it elsewhere, then run again")
    twin_record = _read_manifest(twin) or {}
    staging = Path(tempfile.mkdtemp(prefix=f".{name}.assembling-", dir=datasets_dir()))
    try:
        content = staging / "content"
        shutil.copytree(twin, content, copy_function=_link_or_copy, ignore=shutil.ignore_patterns(MANIFEST))
        record["data"] = twin_record.get("data", ".")
        (content / MANIFEST).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        os.replace(content, final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return final / str(record["data"])


def _link_or_copy(source: Path, target: Path) -> None:
    """``target`` as a hard link to ``source`` (same disk, no second copy), else a copy."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def _remove_empty(folder: Path) -> None:
    with contextlib.suppress(OSError):
        folder.rmdir()

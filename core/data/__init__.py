"""Datasets: the built-in ones, importers for files on disk, and the ones fetched by name.

>>> from core.data import load_dataset
>>> load_dataset("shapes", n_samples=8).sample_shape
(1, 28, 28)
"""

from __future__ import annotations

import os

from core.data.builtin import builtin_names, load_builtin
from core.data.catalogue import CATALOGUE
from core.data.dataset import Dataset, DatasetError
from core.data.importers import import_dataset

__all__ = ["Dataset", "DatasetError", "builtin_names", "import_dataset", "load_builtin", "load_dataset"]


def load_dataset(
    spec: str | os.PathLike[str],
    *,
    input_shape: tuple[int, ...] | None = None,
    n_samples: int | None = None,
    seed: int = 0,
) -> Dataset:
    """Load a dataset by path or by name.

    ``spec`` is resolved in this order: an existing file or folder (so a real path
    always wins); a built-in name; the name of a dataset fetched with ``layerwise
    datasets get``; a catalogue name not fetched yet, which is refused with the command
    that fetches it.

    Parameters
    ----------
    spec
        A path :func:`import_dataset` reads, a name from :func:`builtin_names`, or a
        fetched or catalogue dataset name (:mod:`core.data.store`, :mod:`core.data.catalogue`).
    input_shape, n_samples, seed
        Passed to :func:`load_builtin`; ignored for imported files, whose shape the
        caller checks against the network.

    Raises
    ------
    DatasetError
        When the built-in set cannot be built, the path or fetched dataset cannot be
        imported, or a catalogue dataset is not on this computer yet ("'mnist' is not on
        this computer yet: layerwise datasets get mnist (about 11.6 MB)").
    """
    from core.data import store  # downloading machinery, only when a name is not a path

    name = os.fspath(spec)
    if os.path.exists(name):
        return import_dataset(name)
    if name in builtin_names():
        return load_builtin(name, input_shape=input_shape, n_samples=n_samples, seed=seed)
    if store.dataset_path(name) is not None:
        return store.load_fetched(name)
    if name in CATALOGUE:
        raise DatasetError(store.not_here_message(name))
    return import_dataset(name)

"""Datasets: the built-in ones and importers for files on disk.

>>> from core.data import load_dataset
>>> load_dataset("shapes", n_samples=8).sample_shape
(1, 28, 28)
"""

from __future__ import annotations

import os

from core.data.builtin import builtin_names, load_builtin
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
    """Load a built-in dataset by name, or import the dataset at a path.

    A built-in name is used only when no file or folder of that name exists, so a
    real path always wins.

    Parameters
    ----------
    spec
        A name from :func:`builtin_names` or a path :func:`import_dataset` reads.
    input_shape, n_samples, seed
        Passed to :func:`load_builtin`; ignored for imported files, whose shape the
        caller checks against the network.

    Raises
    ------
    DatasetError
        When the built-in set cannot be built or the path cannot be imported.
    """
    name = os.fspath(spec)
    if name in builtin_names() and not os.path.exists(name):
        return load_builtin(name, input_shape=input_shape, n_samples=n_samples, seed=seed)
    return import_dataset(name)

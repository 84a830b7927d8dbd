"""The datasets Layerwise can fetch by name: where their files are, their checksums, their terms.

Each :class:`CatalogueEntry` lists the files of one dataset with the SHA-256 and byte size
every downloaded copy must have (see ``docs/datasets.md`` for how each value was
confirmed), the publisher's URL first and well-known mirrors after it. Nothing here
touches the network; :mod:`core.data.store` fetches and assembles the files.

>>> catalogue_entry("mnist").classes
10
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from core.data.dataset import DatasetError

READERS = ("idx", "cifar10", "cifar100")
"""How a fetched dataset is read: IDX ``.gz`` files, a CIFAR-10 or a CIFAR-100 python folder."""


@dataclass(frozen=True)
class RemoteFile:
    """One file of a dataset as its publisher distributes it.

    Parameters
    ----------
    name
        The file's name, the same on every mirror (``train-images-idx3-ubyte.gz``).
    urls
        Where to download it, the publisher's address first.
    sha256
        Its SHA-256, 64 lowercase hex digits; a download with any other is refused.
    size
        Its length in bytes.
    md5
        Its MD5 as torchvision publishes it, a second check (``""`` when not recorded).
    """

    name: str
    urls: tuple[str, ...]
    sha256: str
    size: int
    md5: str = ""


@dataclass(frozen=True)
class CatalogueEntry:
    """A dataset of the catalogue: its files, how it is read and on what terms it may be used.

    Parameters
    ----------
    name
        What ``--dataset`` and ``layerwise datasets get`` take (``"fashion-mnist"``).
    title
        The dataset's own name (``"Fashion-MNIST"``).
    files
        The files to fetch.
    reader
        One of :data:`READERS`.
    labels
        ``"fine"`` or ``"coarse"`` for CIFAR-100, ``""`` otherwise.
    licence, citation, homepage
        The terms of use, what to cite and where the dataset is described.
    split
        The published split, e.g. ``"60,000 train / 10,000 test"``.
    classes
        Number of classes.
    sample_shape
        ``(C, H, W)`` of one image.
    folder
        The folder inside the unpacked archive that holds the data (``"cifar-10-batches-py"``);
        ``""`` when the files themselves are the dataset (IDX).
    """

    name: str
    title: str
    files: tuple[RemoteFile, ...]
    reader: str
    labels: str
    licence: str
    citation: str
    homepage: str
    split: str
    classes: int
    sample_shape: tuple[int, ...]
    folder: str = ""

    @property
    def size(self) -> int:
        """Bytes to download, all files together."""
        return sum(f.size for f in self.files)


def describe_size(count: int) -> str:
    """``11594722`` → ``"11.6 MB"``, ``170498071`` → ``"170 MB"``, ``28881`` → ``"29 kB"`` (decimal units)."""
    if count < 1_000:
        return f"{count} bytes"
    if count < 1_000_000:
        return f"{count / 1e3:,.0f} kB"
    if count < 100_000_000:
        return f"{count / 1e6:,.1f} MB"
    return f"{count / 1e6:,.0f} MB"


def _idx_files(bases: tuple[str, ...], checks: tuple[tuple[str, int, str, str], ...]) -> tuple[RemoteFile, ...]:
    """The IDX files named in ``checks`` (name, size, sha256, md5), each at every base URL in order."""
    return tuple(
        RemoteFile(name, tuple(f"{base}/{name}" for base in bases), sha256, size, md5)
        for name, size, sha256, md5 in checks
    )


_MNIST_BASES = (
    "https://yann.lecun.com/exdb/mnist",
    "https://ossci-datasets.s3.amazonaws.com/mnist",
    "https://storage.googleapis.com/cvdf-datasets/mnist",
)
_FASHION_BASES = (
    "https://fashion-mnist.s3.eu-central-1.amazonaws.com",
    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion",
)
_KMNIST_BASES = ("https://codh.rois.ac.jp/kmnist/dataset/kmnist",)
_CIFAR_BASE = "https://www.cs.toronto.edu/~kriz"

_IDX_SPLIT = "60,000 train / 10,000 test"
_CIFAR_LICENCE = "no licence stated; the authors ask that the technical report be cited"
_CIFAR_CITATION = (
    "Alex Krizhevsky. Learning Multiple Layers of Features from Tiny Images. "
    "Technical report, University of Toronto, 2009."
)
_CIFAR_HOMEPAGE = "https://www.cs.toronto.edu/~kriz/cifar.html"
_CIFAR100_FILE = RemoteFile(
    "cifar-100-python.tar.gz",
    (f"{_CIFAR_BASE}/cifar-100-python.tar.gz",),
    "85cd44d02ba6437773c5bbd22e183051d648de2e7d6b014e1ef29b855ba677a7",
    169_001_437,
    "eb9058c3a382ffc7106e4002c42a8d85",
)

_ENTRIES = (
    CatalogueEntry(
        name="mnist",
        title="MNIST handwritten digits",
        files=_idx_files(
            _MNIST_BASES,
            (
                (
                    "train-images-idx3-ubyte.gz",
                    9_912_422,
                    "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
                    "f68b3c2dcbeaaa9fbdd348bbdeb94873",
                ),
                (
                    "train-labels-idx1-ubyte.gz",
                    28_881,
                    "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
                    "d53e105ee54ea40749a09fcbcd1e9432",
                ),
                (
                    "t10k-images-idx3-ubyte.gz",
                    1_648_877,
                    "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
                    "9fb629c4189551a2d022fa330f9573f3",
                ),
                (
                    "t10k-labels-idx1-ubyte.gz",
                    4_542,
                    "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
                    "ec29112dd5afa0611ce80d1b7f02629c",
                ),
            ),
        ),
        reader="idx",
        labels="",
        licence="CC BY-SA 3.0 (copyright Yann LeCun and Corinna Cortes)",
        citation=(
            "Y. LeCun, L. Bottou, Y. Bengio and P. Haffner. Gradient-based learning applied to document "
            "recognition. Proceedings of the IEEE, 86(11):2278-2324, 1998."
        ),
        homepage="https://yann.lecun.com/exdb/mnist/",
        split=_IDX_SPLIT,
        classes=10,
        sample_shape=(1, 28, 28),
    ),
    CatalogueEntry(
        name="fashion-mnist",
        title="Fashion-MNIST (Zalando article images)",
        files=_idx_files(
            _FASHION_BASES,
            (
                (
                    "train-images-idx3-ubyte.gz",
                    26_421_880,
                    "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
                    "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
                ),
                (
                    "train-labels-idx1-ubyte.gz",
                    29_515,
                    "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
                    "25c81989df183df01b3e8a0aad5dffbe",
                ),
                (
                    "t10k-images-idx3-ubyte.gz",
                    4_422_102,
                    "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
                    "bef4ecab320f06d8554ea6380940ec79",
                ),
                (
                    "t10k-labels-idx1-ubyte.gz",
                    5_148,
                    "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
                    "bb300cfdad3c16e7a12a480ee83cd310",
                ),
            ),
        ),
        reader="idx",
        labels="",
        licence="MIT (copyright Zalando SE)",
        citation=(
            "Han Xiao, Kashif Rasul and Roland Vollgraf. Fashion-MNIST: a Novel Image Dataset for Benchmarking "
            "Machine Learning Algorithms. arXiv:1708.07747, 2017."
        ),
        homepage="https://github.com/zalandoresearch/fashion-mnist",
        split=_IDX_SPLIT,
        classes=10,
        sample_shape=(1, 28, 28),
    ),
    CatalogueEntry(
        name="kmnist",
        title="Kuzushiji-MNIST (cursive Japanese characters)",
        files=_idx_files(
            _KMNIST_BASES,
            (
                (
                    "train-images-idx3-ubyte.gz",
                    18_165_135,
                    "51467d22d8cc72929e2a028a0428f2086b092bb31cfb79c69cc0a90ce135fde4",
                    "bdb82020997e1d708af4cf47b453dcf7",
                ),
                (
                    "train-labels-idx1-ubyte.gz",
                    29_497,
                    "e38f9ebcd0f3ebcdec7fc8eabdcdaef93bb0df8ea12bee65224341c8183d8e17",
                    "e144d726b3acfaa3e44228e80efcd344",
                ),
                (
                    "t10k-images-idx3-ubyte.gz",
                    3_041_136,
                    "edd7a857845ad6bb1d0ba43fe7e794d164fe2dce499a1694695a792adfac43c5",
                    "5c965bf0a639b31b8f53240b1b52f4d7",
                ),
                (
                    "t10k-labels-idx1-ubyte.gz",
                    5_120,
                    "20bb9a0ef54c7db3efc55a92eef5582c109615df22683c380526788f98e42a1c",
                    "7320c461ea6c1c855c0b718fb2a4b134",
                ),
            ),
        ),
        reader="idx",
        labels="",
        licence=(
            "CC BY-SA 4.0 (KMNIST Dataset, created by CODH, adapted from the Kuzushiji Dataset created by NIJL "
            "and others, doi:10.20676/00000341)"
        ),
        citation=(
            "Tarin Clanuwat, Mikel Bober-Irizar, Asanobu Kitamoto, Alex Lamb, Kazuaki Yamamoto and David Ha. "
            "Deep Learning for Classical Japanese Literature. arXiv:1812.01718, 2018."
        ),
        homepage="https://codh.rois.ac.jp/kmnist/",
        split=_IDX_SPLIT,
        classes=10,
        sample_shape=(1, 28, 28),
    ),
    CatalogueEntry(
        name="cifar10",
        title="CIFAR-10 (tiny colour photographs, 10 classes)",
        files=(
            RemoteFile(
                "cifar-10-python.tar.gz",
                (f"{_CIFAR_BASE}/cifar-10-python.tar.gz",),
                "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce",
                170_498_071,
                "c58f30108f718f92721af3b95e74349a",
            ),
        ),
        reader="cifar10",
        labels="",
        licence=_CIFAR_LICENCE,
        citation=_CIFAR_CITATION,
        homepage=_CIFAR_HOMEPAGE,
        split="50,000 train / 10,000 test",
        classes=10,
        sample_shape=(3, 32, 32),
        folder="cifar-10-batches-py",
    ),
    CatalogueEntry(
        name="cifar100",
        title="CIFAR-100 (tiny colour photographs, 100 fine classes)",
        files=(_CIFAR100_FILE,),
        reader="cifar100",
        labels="fine",
        licence=_CIFAR_LICENCE,
        citation=_CIFAR_CITATION,
        homepage=_CIFAR_HOMEPAGE,
        split="50,000 train / 10,000 test",
        classes=100,
        sample_shape=(3, 32, 32),
        folder="cifar-100-python",
    ),
    CatalogueEntry(
        name="cifar100-coarse",
        title="CIFAR-100 with its 20 coarse superclasses",
        files=(_CIFAR100_FILE,),
        reader="cifar100",
        labels="coarse",
        licence=_CIFAR_LICENCE,
        citation=_CIFAR_CITATION,
        homepage=_CIFAR_HOMEPAGE,
        split="50,000 train / 10,000 test",
        classes=20,
        sample_shape=(3, 32, 32),
        folder="cifar-100-python",
    ),
)

CATALOGUE: dict[str, CatalogueEntry] = {entry.name: entry for entry in _ENTRIES}
"""Every dataset Layerwise can fetch, by name, in the order they are listed."""


def catalogue_names() -> list[str]:
    """The names of :data:`CATALOGUE`, in its order."""
    return list(CATALOGUE)


def catalogue_entry(name: str) -> CatalogueEntry:
    """The entry called ``name``.

    Raises
    ------
    DatasetError
        Naming the datasets there are, and the closest name when ``name`` looks like a typo.
    """
    entry = CATALOGUE.get(name)
    if entry is not None:
        return entry
    close = difflib.get_close_matches(name.lower(), CATALOGUE, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise DatasetError(f"{name!r} is not in the catalogue (datasets: {', '.join(CATALOGUE)}){hint}")

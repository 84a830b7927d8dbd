"""The catalogue: every file has a checksum, a size and secure URLs; every dataset its terms."""

from __future__ import annotations

import re

import pytest

from core.data import DatasetError
from core.data.catalogue import CATALOGUE, READERS, catalogue_entry, catalogue_names, describe_size

ENTRIES = list(CATALOGUE.values())


def test_names_are_unique_and_match_their_keys():
    assert catalogue_names() == ["mnist", "fashion-mnist", "kmnist", "cifar10", "cifar100", "cifar100-coarse"]
    assert [entry.name for entry in ENTRIES] == catalogue_names()
    assert all(re.fullmatch(r"[a-z0-9][a-z0-9-]*", name) for name in catalogue_names())


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.name)
def test_every_file_has_a_checksum_a_size_and_https_urls(entry):
    assert entry.files
    assert len({f.name for f in entry.files}) == len(entry.files)
    for remote in entry.files:
        assert re.fullmatch(r"[0-9a-f]{64}", remote.sha256), remote.name
        assert remote.md5 == "" or re.fullmatch(r"[0-9a-f]{32}", remote.md5), remote.name
        assert remote.size > 0
        assert remote.urls and len(set(remote.urls)) == len(remote.urls)
        for url in remote.urls:
            assert url.startswith("https://") and url.endswith("/" + remote.name), url
    assert entry.size == sum(f.size for f in entry.files)


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.name)
def test_every_entry_says_what_it_is_and_on_what_terms(entry):
    assert entry.title and entry.licence and entry.citation and entry.split
    assert entry.homepage.startswith("https://")
    assert entry.reader in READERS
    assert (entry.labels in ("fine", "coarse")) == (entry.reader == "cifar100")
    assert entry.labels == "" or entry.reader == "cifar100"
    assert entry.classes >= 10 or entry.labels == "coarse"
    assert len(entry.sample_shape) == 3
    assert (entry.folder != "") == (entry.reader != "idx")


def test_one_file_has_one_checksum_across_entries():
    seen: dict[str, tuple[str, int]] = {}
    for entry in ENTRIES:
        for remote in entry.files:
            for url in remote.urls:
                assert seen.setdefault(url, (remote.sha256, remote.size)) == (remote.sha256, remote.size), url
    assert catalogue_entry("cifar100").files == catalogue_entry("cifar100-coarse").files


def test_the_well_known_values():
    mnist = catalogue_entry("mnist")
    assert mnist.files[0].sha256.startswith("440fcabf73cc546fa21475e81ea370265605f56be210a4024d")
    assert mnist.size == 11_594_722
    assert catalogue_entry("cifar10").size == 170_498_071
    assert catalogue_entry("cifar100-coarse").classes == 20


def test_an_unknown_name_lists_the_catalogue_and_suggests_the_closest():
    with pytest.raises(DatasetError) as caught:
        catalogue_entry("fashion_mnist")
    message = str(caught.value)
    assert "'fashion_mnist' is not in the catalogue" in message and "cifar100-coarse" in message
    assert message.endswith("did you mean 'fashion-mnist'?")
    with pytest.raises(DatasetError) as caught:
        catalogue_entry("imagenet")
    assert "did you mean" not in str(caught.value)


@pytest.mark.parametrize(
    ("count", "shown"),
    [(28_881, "29 kB"), (11_594_722, "11.6 MB"), (170_498_071, "170 MB"), (512, "512 bytes")],
)
def test_sizes_are_described_in_decimal_units(count, shown):
    assert describe_size(count) == shown

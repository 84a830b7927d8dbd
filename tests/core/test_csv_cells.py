"""CSV text cells: nothing a spreadsheet would run as a formula, every text given back."""

from __future__ import annotations

import csv
import io

import pytest

from core.csv_cells import csv_row, csv_text_cell, text_from_csv_cell
from core.training.history import runs_to_csv
from tests.core.training.test_history import history_of

FORMULAS = ("=1+1", '=HYPERLINK("http://example.com","x")', "+1", "-1", "@SUM(A1:A2)", "\t=1", "\r=1")


@pytest.mark.parametrize("text", FORMULAS)
def test_text_a_spreadsheet_would_compute_gets_an_apostrophe(text):
    assert csv_text_cell(text) == "'" + text
    assert text_from_csv_cell(csv_text_cell(text)) == text


@pytest.mark.parametrize("text", ["", "Run 1", "conv1", "a=b", "1+1", "it's", " =1", "批次 1", "'", "'=1", "''x"])
def test_other_text_is_given_back_exactly(text):
    cell = csv_text_cell(text)
    assert cell == ("'" + text if text.startswith("'") else text)  # a leading apostrophe is doubled
    assert text_from_csv_cell(cell) == text


def test_a_row_changes_its_text_only():
    row = {"run": "=1+1", "epoch": 1, "loss": -0.5, "rate": float("inf"), "note": "-"}
    assert csv_row(row) == {"run": "'=1+1", "epoch": 1, "loss": -0.5, "rate": float("inf"), "note": "'-"}


def test_the_runs_csv_writes_names_as_text_and_numbers_untouched():
    first = history_of([1.0, 0.5], [0.9, 0.6])
    first.name = "=1+1"
    second = history_of([0.7], [0.25])
    second.name = '=HYPERLINK("http://example.com","x")'
    third = history_of([0.5], [0.5])
    third.name = "Run 3"
    text = runs_to_csv([first, second, third])
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [row["run"] for row in rows] == ["'=1+1", "'=1+1", "'" + second.name, "Run 3"]
    assert [text_from_csv_cell(row["run"]) for row in rows] == ["=1+1", "=1+1", second.name, "Run 3"]
    assert [(row["epoch"], row["train_loss"], row["val_loss"]) for row in rows] == [
        ("1", "1.0", "0.9"),
        ("2", "0.5", "0.6"),
        ("1", "0.7", "0.25"),
        ("1", "0.5", "0.5"),
    ]
    # No cell of the file begins with a formula character.
    cells = [cell for line in csv.reader(io.StringIO(text)) for cell in line]
    assert not [cell for cell in cells if cell[:1] in ("=", "+", "@", "\t", "\r")]

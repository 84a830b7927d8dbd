"""`main.py sweep`: a line per run, a table of settings, the CSV's columns, one-line refusals."""

from __future__ import annotations

import csv
import io

import pytest

import main

TINY = ["--samples", "120", "--epochs", "2", "--batch-size", "32", "--jobs", "1"]


def sweep(capsys, *argv):
    status = main.main(["sweep", *argv])
    out, err = capsys.readouterr()
    return status, out, err


def test_a_halving_sweep_writes_a_row_per_run_and_marks_the_best(capsys, tmp_path):
    results, experiment = tmp_path / "out" / "results.csv", tmp_path / "experiment.json"
    status, out, err = sweep(
        capsys,
        "mlp",
        "--dataset",
        "digits",
        *TINY,
        "--vary",
        "lr=1e-3:1e-2:2:log",
        "--vary",
        "dropout=on,off",
        "--strategy",
        "halving",
        "--experiment",
        str(experiment),
        "-o",
        str(results),
    )
    assert status == 0, err
    rows = list(csv.DictReader(io.StringIO(results.read_text())))
    assert list(rows[0]) == [
        "lr",
        "dropout",
        "seed",
        "best_val_loss",
        "best_val_accuracy",
        "final_val_loss",
        "best_epoch",
        "epochs",
        "seconds",
        "parameters",
        "macs",
    ]
    # 4 settings: 1 epoch each; the better 2 again for the budget of 2 (no further round fits it).
    assert [row["epochs"] for row in rows] == ["1"] * 4 + ["2"] * 2
    assert {row["dropout"] for row in rows} <= {"on", "off"}
    assert out.count("★ best") == 1 and out.count("\nrun ") == 6
    status, out, err = sweep(capsys, "--resume", str(experiment), *TINY)
    assert status == 0, err
    assert "6 runs already finished" in out and "\nrun " not in out


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["mlp", "--dataset", "digits", "--vary", "speed=1,2"], "'speed'"),
        (["mlp", "--dataset", "digits", "--vary", "fc9.units=4"], "'fc9'"),
        (["mlp", "--dataset", "digits", "--vary", "lr=0.1", "--strategy", "bayes"], "'bayes'"),
        (["mlp", "--dataset", "digits"], "nothing varies"),
        (["mlp", "--vary", "lr=0.1"], "--dataset"),
        (["--resume", "missing.json"], "missing.json"),
    ],
)
def test_mistakes_exit_2_with_one_line_naming_them(capsys, argv, named):
    status, _out, err = sweep(capsys, *argv)
    assert status == 2
    assert named in err and len(err.strip().splitlines()) == 1

"""A save killed half-way leaves the previous file intact (network files and weights)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from core.engine.network_weights import NetworkWeights
from core.graph.fileformat import load_network
from tests.conftest import ROOT

KILLS = 4


def checksum(weights: NetworkWeights, document) -> float:
    return float(sum(value.astype(np.float64).sum() for value in weights.state_dict(document).values()))


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_kills_during_saves_never_leave_a_broken_file(tmp_path):
    rng = random.Random(0)
    seen_names, seen_weights = set(), set()
    for _ in range(KILLS):
        driver = subprocess.Popen(
            [sys.executable, "-m", "tests.core.atomic_driver", str(tmp_path)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ},
        )
        try:
            assert driver.stdout.readline().strip() == "saving"
            time.sleep(rng.uniform(0.0, 1.0))  # somewhere inside a save, most of the time
            driver.send_signal(signal.SIGKILL)
            driver.wait(10)
        finally:
            driver.kill()
        document = load_network(tmp_path / "net.json")  # raises if the file were cut short
        assert document.name in ("version A", "version B")
        seen_names.add(document.name)
        seen_weights.add(round(checksum(NetworkWeights.load(tmp_path / "net.npz", document), document), 3))
    assert len(seen_weights) <= 2  # only ever one of the two complete versions

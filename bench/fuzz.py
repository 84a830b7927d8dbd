"""The long fuzz campaign: malformed inputs for every loader of untrusted files.

Each loader gets ``--per-loader`` inputs (default 10,000) made by the mutators in
``tests/fuzz/mutators.py`` from valid seeds, run one by one in a sandboxed worker
(address space capped, killed when it hangs; see ``tests/fuzz/harness.py``). The
only acceptable outcomes are a successful load and a ``LayerwiseError`` whose
message names the file; everything else is a failure, saved with its exception to
``bench/fuzz-failures/<loader>/<signature>-<n>/``.

    python bench/fuzz.py [--per-loader 10000] [--seconds 600] [--seed 0] [--loaders onnx,weights]

Progress goes to stderr; the last line of stdout is one JSON object
``{"LOADER": {"tried": …, "failures": …}, …}``.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")  # before NumPy: see main.py

import argparse
import hashlib
import json
import random
import re
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fuzz.corpus import LOADERS, Payload, seeds
from tests.fuzz.harness import Outcome, Sandbox
from tests.fuzz.mutators import mutate

FAILURES_DIR = Path(__file__).resolve().parent / "fuzz-failures"
SAVED_PER_SIGNATURE = 3
"""Inputs kept for each distinct failure (same reason, exception type and raising line)."""
PROGRESS_EVERY = 1000


def signature(outcome: Outcome) -> str:
    """A short name for a failure: its reason, exception type and the line that raised it."""
    lines = [line.strip() for line in outcome.trace.splitlines() if line.strip().startswith("File ")]
    where = lines[-1] if lines else ""
    # "ValueError: …", or for a slow load "took 5.55 s (OnnxImportError: …)".
    exception = re.findall(r"(\w+):", outcome.detail)[:1] or ["none"]
    digest = hashlib.sha1(f"{outcome.reason}|{exception[0]}|{where}".encode()).hexdigest()[:10]
    return f"{outcome.reason.replace(' ', '-')}-{exception[0]}-{digest}"


def save_failure(loader: str, payload: Payload, outcome: Outcome, index: int) -> Path:
    """Write the failing input's files and a report of what happened."""
    folder = FAILURES_DIR / loader / f"{signature(outcome)}-{index}"
    files = folder / "input"
    for name, content in payload.files.items():
        path = files / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    report = [f"loader: {loader}", f"target: {payload.target or '(the folder)'}", f"outcome: {outcome.describe()}", ""]
    (folder / "report.txt").write_text("\n".join(report) + outcome.trace, encoding="utf-8")
    return folder


def campaign(loader: str, sandbox: Sandbox, count: int, seconds: float | None, seed: int) -> dict[str, int]:
    """Run up to ``count`` inputs (or until ``seconds`` pass) against ``loader``; return the tallies."""
    rng = random.Random(f"{seed}:{loader}")
    start = time.monotonic()
    pool = seeds(loader)
    tried = failures = 0
    kinds: Counter[str] = Counter()
    signatures: Counter[str] = Counter()
    while tried < count and (seconds is None or time.monotonic() - start < seconds):
        payload = mutate(loader, pool, rng)
        outcome = sandbox.run(loader, payload)
        if outcome.reason == "slow":
            # A shared machine can stall any process; only a load that is slow twice counts.
            outcome = sandbox.run(loader, payload)
        tried += 1
        kinds[outcome.kind] += 1
        if outcome.failed:
            failures += 1
            name = signature(outcome)
            signatures[name] += 1
            if signatures[name] <= SAVED_PER_SIGNATURE:
                folder = save_failure(loader, payload, outcome, signatures[name])
                print(f"  FAILURE {outcome.describe()[:300]}\n    saved to {folder}", file=sys.stderr)
        if tried % PROGRESS_EVERY == 0:
            rate = tried / max(time.monotonic() - start, 1e-9)
            print(f"{loader}: {tried} tried, {failures} failures ({dict(kinds)}), {rate:.0f}/s", file=sys.stderr)
    elapsed = time.monotonic() - start
    print(f"{loader}: done, {tried} tried, {failures} failures in {elapsed:.0f} s ({dict(kinds)})", file=sys.stderr)
    return {"tried": tried, "failures": failures}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-loader", type=int, default=10_000, help="inputs per loader (default 10000)")
    parser.add_argument("--seconds", type=float, default=None, help="time budget per loader (default: none)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the mutations (default 0)")
    parser.add_argument("--loaders", default=",".join(LOADERS), help="comma-separated subset of " + ", ".join(LOADERS))
    args = parser.parse_args(argv)
    chosen = [name.strip() for name in args.loaders.split(",") if name.strip()]
    unknown = sorted(set(chosen) - set(LOADERS))
    if unknown:
        parser.error(f"unknown loader(s) {', '.join(unknown)}; choose from {', '.join(LOADERS)}")
    results: dict[str, dict[str, int]] = {}
    with Sandbox() as sandbox:
        for loader in chosen:
            results[loader] = campaign(loader, sandbox, args.per_loader, args.seconds, args.seed)
    print(json.dumps(results))
    return 1 if any(r["failures"] for r in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())

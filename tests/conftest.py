"""Shared test set-up: headless Qt, and helpers to build small networks."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Logs and recovery files of the app under test go to a scratch folder, not the user's.
os.environ.setdefault("LAYERWISE_DATA_DIR", tempfile.mkdtemp(prefix="layerwise-test-data-"))

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

pytest_plugins = ["tests.data_fixtures"]

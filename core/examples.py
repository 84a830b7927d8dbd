"""The example networks shipped in ``resources/examples/``."""

from __future__ import annotations

from pathlib import Path

RESOURCES_DIR = Path(__file__).resolve().parent.parent / "resources"
EXAMPLES_DIR = RESOURCES_DIR / "examples"
DEFAULT_EXAMPLE = "lenet5"


def example_names() -> list[str]:
    """Stems of the shipped example files, e.g. ``["alexnet", "inception_block", …]``."""
    return sorted(p.stem for p in EXAMPLES_DIR.glob("*.json"))


def example_path(name: str) -> Path:
    """Path of the example called ``name`` (it may not exist; callers check)."""
    return EXAMPLES_DIR / f"{name}.json"


def resolve_network_path(argument: str) -> Path:
    """Return ``argument`` as a path, or the example it names when no such file exists.

    Lets ``layerwise info vgg16`` work from anywhere while a real file always wins.
    """
    path = Path(argument)
    if not path.exists() and path.suffix == "" and example_path(argument).exists():
        return example_path(argument)
    return path

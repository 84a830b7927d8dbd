"""Output any console can take: what its encoding lacks is spelled plainly, never a crash.

The summary table draws its rules with ``─`` and writes shapes as ``3×32×32``; a console
whose encoding has no such characters (Windows' cp1252, ``LANG=C`` pipes with
``PYTHONIOENCODING=ascii``) would make ``print`` raise. The ``layerwise-plain`` error
handler writes ASCII look-alikes for the product's own symbols and ``\\uXXXX`` escapes for
anything else (a layer name in a script the console cannot show stays readable and exact).
"""

from __future__ import annotations

import codecs
from typing import TextIO

LOOKALIKES = {
    "─": "-", "│": "|", "×": "x", "·": "*", "—": "-", "–": "-", "−": "-", "…": "...", "→": "->",
    "←": "<-", "≤": "<=", "≥": ">=", "±": "+/-", "≈": "~", "✓": "v", "✗": "x", "°": " deg", "�": "?",
}  # fmt: skip
"""Plain spellings of the characters the product writes itself."""
HANDLER = "layerwise-plain"


def _plain(error: UnicodeError) -> tuple[str, int]:
    if not isinstance(error, UnicodeEncodeError):
        raise error
    text = error.object[error.start : error.end]
    spelled = "".join(LOOKALIKES.get(ch) or ch.encode("ascii", "backslashreplace").decode("ascii") for ch in text)
    return spelled, error.end


codecs.register_error(HANDLER, _plain)


def tolerate_any_encoding(*streams: TextIO) -> None:
    """Make each text stream spell what its encoding lacks plainly instead of raising."""
    for stream in streams:
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None and getattr(stream, "errors", None) in ("strict", "backslashreplace"):
            reconfigure(errors=HANDLER)

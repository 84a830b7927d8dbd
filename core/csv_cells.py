"""Text cells of the CSV files Layerwise writes, safe to open in a spreadsheet program.

A spreadsheet program reads a cell that begins with ``=``, ``+``, ``-`` or ``@`` (or a
tab or carriage return before one) as a formula, so a name such as
``=HYPERLINK("http://…")`` would run when the file is opened ("CSV injection"). As
OWASP advises, such text is written with a leading apostrophe, which spreadsheets take
as "this is text". Text that itself begins with an apostrophe gets one more, so that
:func:`text_from_csv_cell` gives every text back exactly. Numbers are never changed:
only text cells pass through :func:`csv_text_cell`.
"""

from __future__ import annotations

from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""First characters that make a spreadsheet read a cell as a formula (OWASP's list)."""
TEXT_MARK = "'"
"""The prefix a spreadsheet takes as "the rest is text"."""


def csv_text_cell(text: str) -> str:
    """Return ``text`` as a CSV cell no spreadsheet reads as a formula.

    Parameters
    ----------
    text
        Any text, e.g. a run or layer name.

    Returns
    -------
    str
        ``text`` with a leading apostrophe when it begins with one of
        :data:`FORMULA_STARTS` or with an apostrophe; otherwise ``text`` itself.

    Examples
    --------
    >>> csv_text_cell("=1+1")
    "'=1+1"
    >>> csv_text_cell("Run 1")
    'Run 1'
    """
    return TEXT_MARK + text if text.startswith((*FORMULA_STARTS, TEXT_MARK)) else text


def text_from_csv_cell(cell: str) -> str:
    """Return the text :func:`csv_text_cell` wrote as ``cell`` (its inverse)."""
    return cell[len(TEXT_MARK) :] if cell.startswith(TEXT_MARK) else cell


def csv_row(row: dict[str, Any]) -> dict[str, Any]:
    """Return ``row`` with each text value made a safe cell (:func:`csv_text_cell`) and other values as they are."""
    return {key: csv_text_cell(value) if isinstance(value, str) else value for key, value in row.items()}

"""The project's own exception types.

Every error a user can provoke (bad file, bad parameter, impossible graph) is one
of these, with a message that names the cause. Front ends catch
:class:`LayerwiseError` and show its message; anything else is a bug.
"""

from __future__ import annotations


class LayerwiseError(Exception):
    """Base class of every error Layerwise reports to a user."""


class ParamError(LayerwiseError, ValueError):
    """A layer parameter has a wrong type or a value outside its valid range.

    Parameters
    ----------
    field
        Name of the offending parameter, e.g. ``"kernel_size"``.
    message
        What is wrong, e.g. ``"must be ≥ 1, got 0"``.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field} {message}")
        self.field = field
        self.reason = message


class ShapeError(LayerwiseError, ValueError):
    """A layer cannot accept the shapes of the tensors fed to it."""


class GraphError(LayerwiseError, ValueError):
    """An edit would break the structure of the network document."""


class NetworkFileError(LayerwiseError):
    """A network file cannot be read or written.

    The message always starts with the file's path and, where it applies, names
    the layer and the field that are wrong.
    """

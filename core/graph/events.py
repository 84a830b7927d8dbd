"""Change events the network document emits, named in the past tense.

Views (canvas items, inspector, summary) subscribe to the document and redraw from
these events; they never change the document themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Edge:
    """A connection from output ``source_port`` of ``source`` to input ``port`` of ``target`` (node ids).

    Ports count from 0; most layers have one output, so ``source_port`` is usually 0.
    """

    source: str
    target: str
    port: int
    source_port: int = 0


@dataclass(frozen=True)
class NodeAdded:
    node_id: str


@dataclass(frozen=True)
class NodeRemoved:
    node_id: str


@dataclass(frozen=True)
class NodeRenamed:
    node_id: str
    old_name: str
    new_name: str


@dataclass(frozen=True)
class NodeMoved:
    node_id: str
    old_position: tuple[float, float]
    new_position: tuple[float, float]


@dataclass(frozen=True)
class ParamChanged:
    node_id: str
    param: str
    old_value: Any
    new_value: Any


@dataclass(frozen=True)
class TrainingChanged:
    """A layer's training settings (frozen or not, learning-rate multiplier) changed."""

    node_id: str
    old: Any
    new: Any


@dataclass(frozen=True)
class EdgeAdded:
    edge: Edge


@dataclass(frozen=True)
class EdgeRemoved:
    edge: Edge


@dataclass(frozen=True)
class MetadataChanged:
    field: str
    old_value: str
    new_value: str


DocumentEvent = (
    NodeAdded
    | NodeRemoved
    | NodeRenamed
    | NodeMoved
    | ParamChanged
    | TrainingChanged
    | EdgeAdded
    | EdgeRemoved
    | MetadataChanged
)

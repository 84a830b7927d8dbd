"""Plain-text rendering of a :class:`NetworkSummary`, in the spirit of Keras' ``summary()``."""

from __future__ import annotations

from core.analysis.receptive_field import ReceptiveField
from core.analysis.summary import NetworkSummary
from core.shapes import format_shape

MAX_INPUTS_WIDTH = 48


def format_count(value: int | None) -> str:
    """``1234567`` → ``1,234,567``; ``None`` → ``?``."""
    return "?" if value is None else f"{value:,}"


def format_si(value: int) -> str:
    """``15470264320`` → ``15.47 G`` (decimal units, as MACs are quoted in papers)."""
    for factor, unit in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= factor:
            return f"{value / factor:.2f} {unit}"
    return str(value)


def format_bytes(value: int | None) -> str:
    """``3136`` → ``3.1 KiB``."""
    if value is None:
        return "?"
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def _per_axis(pair: tuple[int, int]) -> str:
    return str(pair[0]) if pair[0] == pair[1] else f"{pair[0]}×{pair[1]}"


def receptive_field_cells(field: ReceptiveField | None, missing: str = "-") -> tuple[str, str, str]:
    """Size, stride and padding as table cells (``h×w`` only when the axes differ)."""
    if field is None:
        return (missing, missing, missing)
    mark = ("*" if not field.aligned else "") + ("~" if not field.uniform else "")
    return (_per_axis(field.size) + mark, _per_axis(field.stride), _per_axis(field.padding))


def _shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def format_summary(summary: NetworkSummary, title: str | None = None) -> str:
    """Return the summary table with totals and footnotes, ready to print."""
    headers = (
        "Layer (type)",
        "Inputs",
        "Output shape",
        "Params",
        "MACs",
        "Activations",
        "RF size",
        "RF stride",
        "RF pad",
    )
    right_aligned = {3, 4, 5, 6, 7, 8}
    rows = []
    for layer in summary.layers:
        marks = (["frozen"] if layer.frozen else []) + (
            [f"lr ×{layer.lr_multiplier:g}"] if layer.lr_multiplier != 1.0 and not layer.frozen else []
        )
        rows.append(
            (
                f"{layer.name} ({layer.type})" + (f" [{', '.join(marks)}]" if marks else ""),
                _shorten(", ".join(layer.inputs) or "-", MAX_INPUTS_WIDTH),
                format_shape(layer.output_shape),
                format_count(layer.params),
                format_count(layer.macs),
                format_bytes(layer.activation_bytes),
                *receptive_field_cells(layer.receptive_field),
            )
        )
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(
            cell.rjust(widths[i]) if i in right_aligned else cell.ljust(widths[i]) for i, cell in enumerate(cells)
        ).rstrip()

    rule = "─" * (sum(widths) + 2 * (len(widths) - 1))
    out = []
    if title:
        out.append(title)
    out += [rule, line(headers), rule, *(line(r) for r in rows), rule]
    params = summary.total_params
    out.append(f"Total params:        {params:,} ({format_bytes(summary.param_bytes)} as float32)")
    out.append(f"  trainable:         {summary.trainable_params:,}")
    if summary.has_frozen_layers:
        frozen = [layer.name for layer in summary.layers if layer.frozen]
        names = _shorten(", ".join(frozen), MAX_INPUTS_WIDTH)
        out.append(f"  frozen:            {summary.frozen_params:,} ({len(frozen)} frozen layer(s): {names})")
    out.append(f"  non-trainable:     {summary.non_trainable_params:,}")
    out.append(f"Total MACs:          {summary.total_macs:,} ({format_si(summary.total_macs)}) per sample")
    out.append(f"Activation memory:   {format_bytes(summary.total_activation_bytes)} per sample (all outputs, float32)")
    out.append(rule)
    out.append("RF: receptive field on the input (size, effective stride, effective padding; Araujo et al. 2019);")
    out.append(
        "    unit u of a map sees input rows [−pad + u·stride, −pad + u·stride + size − 1]; '-' after Flatten/Dense."
    )
    if any(l.receptive_field is not None and not l.receptive_field.aligned for l in summary.layers):
        out.append("  * misaligned merge: the branches' fields are centred differently; the bounding box is shown.")
    if any(l.receptive_field is not None and not l.receptive_field.uniform for l in summary.layers):
        out.append("  ~ after up-sampling neighbouring units see different regions: the largest size, unit 0's pad.")
    return "\n".join(out)

"""Charts for the regional report, drawn with matplotlib as inline SVG.

SVG keeps the report one self-contained file with no JavaScript: it opens offline, prints
sharply, and its text (country names, axis labels) stays selectable and searchable. The
functions take tidy frames and return an ``<svg>`` element ready to place in HTML.

Drawing is most of the report's time (a second or more per figure of 25 panels), and a
chart is a function of its arguments alone: each is kept under a digest of its arguments,
this module's code and matplotlib's version (``settings.cache_dir()/charts``), and drawn
again only when one of them changes.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import math
import re
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

from cmc_pipeline import settings
from cmc_pipeline.lib.digests import frame_digest
from cmc_pipeline.lib.lazy import pandas as pd
from cmc_pipeline.lib.raw_store import write_atomically

# Okabe–Ito: distinguishable with the common colour-vision deficiencies and in greyscale print.
SERIES_COLOURS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"]
INK = "#1f2933"
MUTED = "#6b7785"
GRID = "#e3e7ec"

# Small-multiple geometry in inches. A fixed layout instead of tight_layout: every panel has
# the same room for its title and ticks anyway, and measuring text for 25 panels is slow.
PANEL_COLUMNS = 5
FIGURE_WIDTH_IN = 11.5
PANEL_HEIGHT_IN = 0.9
PANEL_GAP_IN = (0.5, 0.72)  # between columns (y tick labels), between rows (x ticks, title)
MARGINS_IN = {"left": 0.45, "right": 0.15, "top": 0.5, "bottom": 0.25}
LEGEND_IN = 0.3
# Panel titles longer than this wrap onto two lines so neighbouring panels never overlap.
PANEL_TITLE_CHARS = 27

_STYLE = {
    # Text stays text (not glyph outlines): smaller files, selectable and searchable.
    "svg.fonttype": "none",
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans", "Liberation Sans", "Arial"],
    "font.size": 8.5,
    # Country and source names are data, never TeX: a "$" must stay a dollar sign.
    "text.parse_math": False,
    "text.color": INK,
    "axes.edgecolor": GRID,
    "axes.labelcolor": INK,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "axes.grid.axis": "y",
    "grid.color": GRID,
    "grid.linewidth": 0.6,
    "xtick.color": MUTED,
    "ytick.color": MUTED,
    "xtick.labelsize": 7.5,
    "ytick.labelsize": 7.5,
    "legend.frameon": False,
}


@dataclass(frozen=True)
class Scale:
    """How a quantity is written: exactly in labels, briefly on axes."""

    name: str  # how a kept chart's digest tells scales apart
    label: Callable[[float], str]
    tick: Callable[[float], str]


def _persons(value: float) -> str:
    """Compact counts: 950, 12k, 1.82M."""
    size = abs(value)
    if size >= 1e9:
        return f"{value / 1e9:.2f}bn"
    if size >= 1e6:
        return f"{value / 1e6:.2f}M"
    if size >= 1e4:
        return f"{value / 1e3:.0f}k"
    if size >= 1e3:
        return f"{value / 1e3:.1f}k"
    return f"{value:.0f}"


PERCENT = Scale(name="percent", label=lambda v: f"{v:.1f}%", tick=lambda v: f"{v:g}%")
PERSONS = Scale(name="persons", label=_persons, tick=lambda v: _persons(v).replace(".0k", "k"))
PER_THOUSAND = Scale(name="per_thousand", label=lambda v: f"{v:.1f}", tick=lambda v: f"{v:g}")


def _argument_for_digest(value):
    if isinstance(value, pd.DataFrame):
        return frame_digest(value)
    if isinstance(value, Scale):
        return value.name
    if isinstance(value, pd.Series):
        return _argument_for_digest(value.to_frame())
    if isinstance(value, list | tuple):
        return [_argument_for_digest(v) for v in value]
    if hasattr(value, "item"):  # a numpy scalar
        value = value.item()
    if value is None or isinstance(value, str | int | float | bool):
        return value
    # Anything else might print shortened and let two charts share a digest.
    raise TypeError(f"a chart argument of type {type(value).__name__} cannot be digested")


def drawn_once(draw: Callable[..., str]) -> Callable[..., str]:
    """``draw``, keeping each chart it returns under a digest of its arguments (see the
    module's docstring)."""

    @functools.wraps(draw)
    def kept(*args, **kwargs) -> str:
        key = [
            draw.__name__,
            _CODE_DIGEST,
            version("matplotlib"),
            [_argument_for_digest(a) for a in args],
            {k: _argument_for_digest(v) for k, v in sorted(kwargs.items())},
        ]
        digest = hashlib.sha256(json.dumps(key).encode()).hexdigest()
        path = settings.cache_dir() / "charts" / f"{digest}.svg"
        if path.exists():
            return path.read_text(encoding="utf-8")
        svg = draw(*args, **kwargs)
        write_atomically(path, svg.encode("utf-8"))
        return svg

    return kept


_CODE_DIGEST = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()


@contextmanager
def _style():
    import matplotlib

    with matplotlib.rc_context(_STYLE):
        yield


@drawn_once
def small_multiples(
    frame: pd.DataFrame,
    *,
    figure_id: str,
    years: tuple[int, int],
    series: Sequence[tuple[str, str]],
    scale: Scale,
    shared_y: bool,
    zero_line: bool = False,
) -> str:
    """One panel per country (columns ``country_name``, ``year``, ``series``, ``value``), a line
    and markers per series, panels in the order the countries first appear.

    Scattered census-round points are joined by lines within a series so the direction of
    change is visible; markers show which years were actually observed. With one series,
    each panel's title ends with its latest value, so figures are readable at any scale.
    """
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    countries = list(dict.fromkeys(frame["country_name"]))
    rows = math.ceil(len(countries) / PANEL_COLUMNS)
    top = MARGINS_IN["top"] + (LEGEND_IN if len(series) > 1 else 0.0)
    height = top + rows * PANEL_HEIGHT_IN + (rows - 1) * PANEL_GAP_IN[1] + MARGINS_IN["bottom"]
    panel_width = (
        FIGURE_WIDTH_IN - MARGINS_IN["left"] - MARGINS_IN["right"] - (PANEL_COLUMNS - 1) * PANEL_GAP_IN[0]
    ) / PANEL_COLUMNS
    layout = {
        "left": MARGINS_IN["left"] / FIGURE_WIDTH_IN,
        "right": 1 - MARGINS_IN["right"] / FIGURE_WIDTH_IN,
        "top": 1 - top / height,
        "bottom": MARGINS_IN["bottom"] / height,
        "wspace": PANEL_GAP_IN[0] / panel_width,
        "hspace": PANEL_GAP_IN[1] / PANEL_HEIGHT_IN,
    }
    with _style():
        figure = Figure(figsize=(FIGURE_WIDTH_IN, height))
        axes = figure.subplots(
            rows, PANEL_COLUMNS, sharex=True, sharey=shared_y, squeeze=False, gridspec_kw=layout
        )
        for ax in axes.flat[len(countries) :]:
            ax.set_visible(False)
        for ax, country in zip(axes.flat, countries, strict=False):
            in_country = frame[frame["country_name"] == country]
            for (key, _label), colour in zip(series, SERIES_COLOURS, strict=False):
                points = in_country[in_country["series"] == key].sort_values("year")
                if points.empty:
                    continue
                ax.plot(
                    points["year"], points["value"], color=colour, linewidth=1.4, marker="o", markersize=3
                )
            title = _wrap(country)
            if len(series) == 1 and not in_country.empty:
                latest = in_country.sort_values("year").iloc[-1]
                title += f"\n{scale.label(latest['value'])} in {int(latest['year'])}"
            ax.set_title(title, fontsize=8.5, loc="left", color=INK, pad=3)
            ax.set_xlim(years[0] - 0.8, years[1] + 0.8)
            ax.xaxis.set_major_locator(MaxNLocator(nbins=3, integer=True))
            ax.yaxis.set_major_locator(MaxNLocator(nbins=4))
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: scale.tick(v)))
            if zero_line:
                ax.axhline(0, color=MUTED, linewidth=0.7)
            # Explicit limits: autoscaling a shared axis panel by panel clips the largest values.
            ax.set_ylim(*_value_range(frame["value"] if shared_y else in_country["value"]))
        for ax in axes.flat[: len(countries)]:
            # sharex hides inner year labels; a reader scanning one panel needs its years.
            ax.tick_params(axis="x", labelbottom=True)
        if len(series) > 1:
            handles = [
                Line2D([], [], color=colour, marker="o", markersize=3, linewidth=1.4, label=label)
                for (_key, label), colour in zip(series, SERIES_COLOURS, strict=False)
            ]
            figure.legend(handles=handles, loc="upper left", ncols=len(series), bbox_to_anchor=(0.0, 1.0))
        return _svg(figure, figure_id)


@drawn_once
def ranked_bars(
    labels: Sequence[str],
    values: Sequence[float],
    *,
    figure_id: str,
    scale: Scale,
    axis_label: str,
) -> str:
    """Horizontal bars, largest first, each labelled with its value."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    order = sorted(zip(values, labels, strict=True), key=lambda pair: pair[0])
    with _style():
        figure = Figure(figsize=(9.5, 0.8 + 0.26 * len(order)))
        ax = figure.subplots()
        ax.barh(
            [label for _, label in order], [value for value, _ in order], color=SERIES_COLOURS[0], height=0.65
        )
        largest = max((v for v, _ in order), default=0)
        for position, (value, _label) in enumerate(order):
            ax.text(
                value + largest * 0.01, position, scale.label(value), va="center", fontsize=7.5, color=INK
            )
        ax.set_xlim(0, largest * 1.12 if largest > 0 else 1)
        ax.grid(axis="x", color=GRID, linewidth=0.6)
        ax.grid(axis="y", visible=False)
        ax.tick_params(axis="y", labelsize=8.5, colors=INK, length=0)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: scale.tick(v)))
        ax.set_xlabel(axis_label, color=MUTED)
        figure.tight_layout()
        return _svg(figure, figure_id)


@drawn_once
def lines_by_country(
    frame: pd.DataFrame,
    *,
    figure_id: str,
    years: tuple[int, int],
    scale: Scale,
    axis_label: str,
    reference: tuple[float, str] | None = None,
) -> str:
    """One line per country on one chart (columns ``country_name``, ``year``, ``value``), for a
    handful of countries; a dashed reference line (a target) when given."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    with _style():
        figure = Figure(figsize=(9.5, 3.6))
        ax = figure.subplots()
        for index, (country, points) in enumerate(
            frame.sort_values("year").groupby("country_name", sort=True)
        ):
            colour = SERIES_COLOURS[index % len(SERIES_COLOURS)]
            style = "-" if index < len(SERIES_COLOURS) else "--"
            ax.plot(
                points["year"], points["value"], style, color=colour, marker="o", markersize=3, label=country
            )
        if reference is not None:
            level, label = reference
            ax.axhline(level, color=MUTED, linestyle=(0, (4, 3)), linewidth=1)
            ax.annotate(
                label,
                (years[0] - 0.5, level),
                xytext=(0, 4),
                textcoords="offset points",
                color=MUTED,
                fontsize=7.5,
            )
        ax.set_xlim(years[0] - 0.8, years[1] + 0.8)
        ax.set_ylim(bottom=0)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: scale.tick(v)))
        ax.set_ylabel(axis_label, color=MUTED)
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
        figure.tight_layout()
        return _svg(figure, figure_id)


def _value_range(values: pd.Series) -> tuple[float, float]:
    """From zero (or the lowest negative value) to just above the highest value."""
    low, high = min(float(values.min()), 0.0), max(float(values.max()), 0.0)
    margin = (high - low) * 0.1 or 1.0
    return (low - margin if low < 0 else 0.0), high + margin


def _wrap(name: str) -> str:
    if len(name) <= PANEL_TITLE_CHARS:
        return name
    words, lines = name.split(), [""]
    for word in words:
        if lines[-1] and len(lines[-1]) + 1 + len(word) > PANEL_TITLE_CHARS:
            lines.append(word)
        else:
            lines[-1] = f"{lines[-1]} {word}".strip()
    return "\n".join(lines)


_PROLOGUE = re.compile(r"^.*?(?=<svg\b)", re.S)
_METADATA = re.compile(r"<metadata>.*?</metadata>\s*", re.S)
_SIZE = re.compile(r'\s(width|height)="[^"]*pt"')


def _svg(figure, figure_id: str) -> str:
    """The figure as an inline ``<svg>``: no XML prologue or metadata, sized by CSS, and its
    ids prefixed with ``figure_id`` so several charts can share one HTML page."""
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None})
    svg = _METADATA.sub("", _PROLOGUE.sub("", buffer.getvalue(), count=1))
    svg = _SIZE.sub("", svg, count=2)
    svg = re.sub(r'\bid="([^"]+)"', rf'id="{figure_id}-\1"', svg)
    svg = re.sub(r'href="#([^"]+)"', rf'href="#{figure_id}-\1"', svg)
    svg = re.sub(r"url\(#([^)]+)\)", rf"url(#{figure_id}-\1)", svg)
    return svg.strip()

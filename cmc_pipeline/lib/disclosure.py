"""Statistical disclosure control that holds across every total a release publishes.

A published table of counts carries additive relations a reader can use: a regional row
(CMC) is the sum of its member countries' rows, ``SEX_T`` the sum of the sexes, a ``_T``
code the sum of the other codes of its dimension, a year the sum of its quarters or
months. Suppressing a small count inside one country is not enough when the same release
shows the regional total over the countries: the hidden cell is the total minus the
visible ones.

This module

- finds the relations a table shows, from its rows (a relation is kept only where the
  figures really add up, so a breakdown that lists some citizenships beside the total of
  all is not mistaken for a complete one);
- suppresses counts in ``1 … threshold-1`` (primary, SDMX ``CONF_STATUS`` C) and enough
  other cells (secondary, D) that **no suppressed cell can be worked out** from the
  visible cells of this release and of every earlier release to the same audience, by any
  combination of those relations (an exact linear-algebra audit, not a rule of thumb);
- keeps a cell suppressed in a later release while its value is the one an earlier
  release hid, and never relies on a cell an earlier release showed to protect another.

The audit, :func:`recoverable_cells`, treats every suppressed figure as an unknown and
every relation as an equation over the unknowns (visible cells are constants); a
suppressed cell is recoverable when its unit vector lies in the row space of the
equations, i.e. every solution gives it the same value. Earlier releases join the same
system: a cell that keeps its value between releases is the same unknown in both.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cmc_pipeline.lib.lazy import pandas as pd

# SDMX cross-domain code list CL_CONF_STATUS (its codes F, C and D).
FREE = "F"  # free for publication
PRIMARY = "C"  # confidential statistical information
SECONDARY = "D"  # secondary confidentiality set by the sender, not for publication
CONF_STATUS_LABELS = {
    FREE: "Free",
    PRIMARY: "Confidential statistical information",
    SECONDARY: "Secondary confidentiality set by the sender, not for publication",
}
REASONS = {
    PRIMARY: "primary: count below the threshold",
    SECONDARY: "secondary: protects a suppressed cell",
}

AREA, PERIOD = "area_code", "period"
SUB_PERIOD = re.compile(r"^(\d{4})-[QM]\d{1,2}$")


class DisclosureError(RuntimeError):
    """A release cannot be protected: publishing it would reveal a suppressed cell."""


def is_total_code(code: object) -> bool:
    """ILO and SDMX total codes: ``_T``, ``SEX_T`` and the like, ``TOTAL``."""
    return isinstance(code, str) and (code in ("_T", "TOTAL") or code.endswith(("_T", "_TOTAL")))


@dataclass(frozen=True)
class Relation:
    """``total`` = sum of ``parts`` (row positions); ``over`` says what it adds up over."""

    total: int
    parts: tuple[int, ...]
    over: str


@dataclass
class Release:
    """One published table's cells for one count column: key, value and CONF_STATUS."""

    frame: pd.DataFrame  # key columns (+ countries on regional rows), value, status
    key_columns: list[str]
    relations: list[Relation] = field(default_factory=list)
    # Keys and values do not change once a release is made (only the status does): the
    # audit reads them on every round, so they are worked out once.
    _variables: list[tuple[str, float]] | None = field(default=None, init=False, repr=False)

    @classmethod
    def of(cls, frame: pd.DataFrame, key_columns: list[str], value_column: str) -> Release:
        kept = [*key_columns, *(["countries"] if "countries" in frame else [])]
        cells = frame[kept].copy().reset_index(drop=True)
        cells["value"] = pd.to_numeric(frame[value_column], errors="coerce").to_numpy(dtype=float)
        cells["status"] = FREE
        release = cls(cells, list(key_columns))
        release.relations = additive_relations(cells, key_columns, "value")
        return release

    @property
    def cells(self) -> list[str]:
        # A plain loop over the rows: pandas' row-wise ``agg`` costs ~40 µs a row.
        keys = self.frame[self.key_columns].astype(str).itertuples(index=False, name=None)
        return ["|".join(key) for key in keys]

    def variables(self) -> list[tuple[str, float]]:
        """A cell's identity across releases: its key and its value."""
        if self._variables is None:
            self._variables = list(zip(self.cells, self.frame["value"].tolist(), strict=True))
        return self._variables


def additive_relations(frame: pd.DataFrame, key_columns: list[str], value_column: str) -> list[Relation]:
    """Every sum the rows show: regional rows over their members, total codes over the
    other codes of their dimension, years over their quarters or months. A candidate is
    kept only where the figures add up exactly (a partial breakdown is not a relation)."""
    values = pd.to_numeric(frame[value_column], errors="coerce").to_numpy(dtype=float)
    keys = [tuple(row) for row in frame[key_columns].astype(str).itertuples(index=False)]
    position = {key: i for i, key in enumerate(keys)}
    candidates: list[Relation] = []

    if AREA in key_columns and "countries" in frame:
        area_at = key_columns.index(AREA)
        for i, (key, countries) in enumerate(zip(keys, frame["countries"], strict=True)):
            members = str(countries or "").split()
            if len(members) < 2 and (not members or members[0] == key[area_at]):
                continue  # a country row: it adds up nothing
            parts = [
                position[k]
                for m in members
                if (k := (*key[:area_at], m, *key[area_at + 1 :])) in position and k != key
            ]
            candidates.append(Relation(i, tuple(parts), "area"))

    for column in key_columns:
        if column in (AREA, PERIOD):
            continue
        at = key_columns.index(column)
        groups: dict[tuple, tuple[list[int], list[int]]] = {}
        for i, key in enumerate(keys):
            totals, parts = groups.setdefault((*key[:at], *key[at + 1 :]), ([], []))
            (totals if is_total_code(key[at]) else parts).append(i)
        for totals, parts in groups.values():
            for total in totals:
                candidates.append(Relation(total, tuple(parts), column))

    if PERIOD in key_columns:
        at = key_columns.index(PERIOD)
        sub_periods: dict[tuple, dict[str, list[int]]] = {}
        for i, key in enumerate(keys):
            if match := SUB_PERIOD.match(key[at]):
                kind = key[at][5]
                annual = (*key[:at], match.group(1), *key[at + 1 :])
                sub_periods.setdefault(annual, {}).setdefault(kind, []).append(i)
        for annual, by_kind in sub_periods.items():
            if annual in position:
                for kind, parts in by_kind.items():
                    candidates.append(Relation(position[annual], tuple(parts), f"period ({kind})"))

    return [
        r
        for r in candidates
        if r.parts
        and not np.isnan(values[r.total])
        and not np.isnan(values[list(r.parts)]).any()
        and abs(values[r.total] - values[list(r.parts)].sum()) < 1e-9
    ]


def recoverable_cells(releases: list[Release]) -> set[tuple[str, float]]:
    """The suppressed figures (cell key, value) a reader holding all these releases can
    work out exactly from their visible cells and the relations they show."""
    known = {
        variable
        for release in releases
        for variable, status in zip(release.variables(), release.frame["status"], strict=True)
        if status == FREE
    }
    index: dict[tuple[str, float], int] = {}
    equations: list[dict[int, float]] = []
    for release in releases:
        variables = release.variables()
        hidden = release.frame["status"].ne(FREE).to_numpy()
        for relation in release.relations:
            coefficients: dict[int, float] = {}
            for at, sign in ((relation.total, 1.0), *((p, -1.0) for p in relation.parts)):
                if hidden[at] and variables[at] not in known:
                    j = index.setdefault(variables[at], len(index))
                    coefficients[j] = coefficients.get(j, 0.0) + sign
            if any(coefficients.values()):
                equations.append(coefficients)
    if not equations:
        return set()

    # Connected components keep each system small: cells linked by no relation are solved apart.
    parent = list(range(len(index)))

    def root(j: int) -> int:
        while parent[j] != j:
            parent[j] = parent[parent[j]]
            j = parent[j]
        return j

    for equation in equations:
        first, *rest = equation
        for j in rest:
            parent[root(j)] = root(first)
    components: dict[int, list[int]] = {}
    for equation_at, equation in enumerate(equations):
        components.setdefault(root(next(iter(equation))), []).append(equation_at)

    names = {j: variable for variable, j in index.items()}
    found: set[tuple[str, float]] = set()
    for equation_ats in components.values():
        columns = sorted({j for e in equation_ats for j in equations[e]})
        column_at = {j: c for c, j in enumerate(columns)}
        matrix = np.zeros((len(equation_ats), len(columns)))
        for row, e in enumerate(equation_ats):
            for j, coefficient in equations[e].items():
                matrix[row, column_at[j]] = coefficient
        # x_j is determined iff e_j is in the row space, i.e. the null space is 0 at j.
        _, singular, vt = np.linalg.svd(matrix)
        rank = int((singular > 1e-9 * max(1.0, singular.max(initial=0.0))).sum())
        null_space = vt[rank:]
        for c, j in enumerate(columns):
            if null_space.shape[0] == 0 or np.abs(null_space[:, c]).max() < 1e-9:
                found.add(names[j])
    return found


def protect(release: Release, threshold: int, earlier: Sequence[Release] = ()) -> Release:
    """Set ``status``: primary suppression of small counts, cells an earlier release hid
    at the same value, then secondary suppression until no suppressed cell is recoverable
    from this release and the earlier ones. Raises :class:`DisclosureError` if a cell
    cannot be protected."""
    frame = release.frame
    values = frame["value"].to_numpy(dtype=float)
    status = np.full(len(frame), FREE, dtype=object)
    status[(values > 0) & (values < threshold)] = PRIMARY
    variables = release.variables()
    hidden_before = {
        v for r in earlier for v, s in zip(r.variables(), r.frame["status"], strict=True) if s != FREE
    }
    shown_before = {
        v for r in earlier for v, s in zip(r.variables(), r.frame["status"], strict=True) if s == FREE
    }
    for at, variable in enumerate(variables):
        if status[at] == FREE and variable in hidden_before:
            status[at] = SECONDARY  # unchanged since an earlier release hid it
    # A cell an earlier release showed protects nothing: a reader already has its value.
    can_protect = np.array([v not in shown_before for v in variables]) & ~np.isnan(values)
    relations_of: dict[int, list[Relation]] = {}
    for relation in release.relations:
        for at in (relation.total, *relation.parts):
            relations_of.setdefault(at, []).append(relation)

    def suppress_partner(relation: Relation) -> bool:
        cells = [relation.total, *relation.parts]
        candidates = [at for at in cells if status[at] == FREE and can_protect[at]]
        if not candidates:
            return False
        positive = [at for at in candidates if values[at] > 0] or candidates
        status[min(positive, key=lambda at: (values[at], at))] = SECONDARY
        return True

    def protect_through_relations(start: int) -> bool:
        """Suppress one more cell, as close to ``start`` as the relations allow: its own
        relations first, then those reached through other suppressed cells."""
        seen_cells, seen_relations, frontier = {start}, set(), [start]
        while frontier:
            reached = []
            for at in frontier:
                for relation in relations_of.get(at, []):
                    if relation in seen_relations:
                        continue
                    seen_relations.add(relation)
                    if suppress_partner(relation):
                        return True
                    for other in (relation.total, *relation.parts):
                        if other not in seen_cells and status[other] != FREE:
                            seen_cells.add(other)
                            reached.append(other)
            frontier = reached
        return False

    already_recoverable = recoverable_cells(list(earlier)) if earlier else set()
    while True:
        # Cheap pass first: a relation with one unknown gives it away by subtraction.
        changed = True
        while changed:
            changed = False
            for relation in release.relations:
                cells = [relation.total, *relation.parts]
                unknown = [at for at in cells if status[at] != FREE and variables[at] not in shown_before]
                if len(unknown) == 1:
                    changed |= suppress_partner(relation)
        frame["status"] = status
        leaks = recoverable_cells([*earlier, release]) - already_recoverable - shown_before
        if not leaks:
            return release
        progressed = False
        for at, variable in enumerate(variables):
            if variable in leaks and status[at] != FREE:
                progressed |= protect_through_relations(at)
        if not progressed:
            cell = sorted(leaks)[0]
            raise DisclosureError(
                f"cell {cell[0]} (value hidden) would be recoverable from the visible cells, and every "
                "cell linked to it by a total is suppressed already or was shown in an earlier release"
            )


# --- what earlier releases showed --------------------------------------------------------


class ReleaseLedger:
    """Every release of a disclosure-controlled table to an audience, kept so a later
    release can be protected against differencing with the earlier ones.

    It holds the hidden values as well (to recognise a cell that kept its value), so it
    lives beside the warehouse, never in an export folder.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def _folder(self, audience: str, table: str, column: str) -> Path:
        return self.folder / audience / table / column

    def earlier(self, audience: str, table: str, column: str, key_columns: list[str]) -> list[Release]:
        folder = self._folder(audience, table, column)
        releases = []
        for path in sorted(folder.glob("*.parquet")) if folder.is_dir() else ():
            frame = pd.read_parquet(path)
            release = Release(frame, key_columns, additive_relations(frame, key_columns, "value"))
            releases.append(release)
        return releases

    def record(self, audience: str, table: str, column: str, release: Release, stamp: str) -> Path:
        """Keep a release (once: an identical re-export adds nothing)."""
        folder = self._folder(audience, table, column)
        folder.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256(
            pd.util.hash_pandas_object(release.frame, index=False).to_numpy().tobytes()
        ).hexdigest()[:16]
        existing = list(folder.glob(f"*-{digest}.parquet"))
        if existing:
            return existing[0]
        path = folder / f"{stamp.replace(':', '')}-{digest}.parquet"
        release.frame.to_parquet(path, index=False)
        return path

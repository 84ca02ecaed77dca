"""The review list: values no code list maps, held back slice by slice.

Guessing a mapping would make figures incomparable without anyone noticing, and failing
the whole load would hide every good figure behind one odd value. So an unknown value
holds back only the slice it touches — the country × indicator (or × year, for sources
without indicators) — whose previous rows stay; the other slices load in the same run.
Each value is listed with its column, how often it occurs, the file and the first line,
in ``quality.unmapped_values`` and in a Dagster check a data engineer sees.
"""

from __future__ import annotations

from dataclasses import dataclass

from cmc_pipeline.lib.lazy import pandas as pd

REVIEW_TABLE = "quality.unmapped_values"
REVIEW_COLUMNS = [
    "source",
    "table_name",
    "country_iso3",
    "slice",
    "column_name",
    "value",
    "row_count",
    "file",
    "first_line",
    "raw_sha256",
    "found_at",
]


class UnmappedValues:
    """Collects the rows whose value in a column has no mapping, to hold back their slices.

    ``slice_column`` names the staging column that, with ``country_iso3``, makes a slice
    (an indicator as published, say). ``file_column`` and ``line_column`` say where a
    person finds the row.
    """

    def __init__(
        self,
        source: str,
        table: str,
        *,
        slice_column: str,
        file_column: str = "dataset_id",
        line_column: str = "source_row_number",
    ):
        self.source, self.table = source, table
        self.slice_column, self.file_column, self.line_column = slice_column, file_column, line_column
        self._found: list[pd.DataFrame] = []
        self._bad_rows: pd.Index | None = None

    def add(self, column: str, rows: pd.DataFrame, values: pd.Series) -> None:
        """``rows`` (a subset of the staging frame) have ``values`` in ``column`` that no
        code list knows."""
        if not len(rows):
            return
        self._found.append(
            pd.DataFrame(
                {
                    "country_iso3": rows["country_iso3"].astype("string"),
                    "slice": rows[self.slice_column].astype("string").fillna(""),
                    "column_name": column,
                    "value": values.astype("string").fillna("(empty)"),
                    "file": rows[self.file_column].astype("string")
                    if self.file_column in rows
                    else pd.Series("", index=rows.index, dtype="string"),
                    "line": rows.get(self.line_column, pd.NA),
                    "raw_sha256": rows["raw_sha256"].astype("string") if "raw_sha256" in rows else "",
                },
                index=rows.index,
            )
        )

    def rows_held_back(self, staging: pd.DataFrame) -> pd.Series:
        """True for every staging row in a slice that holds an unmapped value."""
        if not self._found:
            return pd.Series(False, index=staging.index)
        slices = self.review()[["country_iso3", "slice"]].drop_duplicates()
        keys = pd.MultiIndex.from_arrays(
            [staging["country_iso3"].astype("string"), staging[self.slice_column].astype("string").fillna("")]
        )
        wanted = pd.MultiIndex.from_frame(slices)
        return pd.Series(keys.isin(wanted), index=staging.index)

    def raise_if_any(self) -> None:
        """For a table that loads whole or not at all: refuse it, naming every value."""
        from cmc_pipeline.steps.facts import HarmonisationError

        if self._found:
            raise HarmonisationError(
                f"{self.source}: values with no mapping in the code lists:\n{describe(self.review())}"
            )

    def review(self, found_at: pd.Timestamp | None = None) -> pd.DataFrame:
        """One row per country × slice × column × value, with its count and first line."""
        if not self._found:
            return empty_review()
        found = pd.concat(self._found)
        grouped = (
            found.sort_values("line", na_position="last", kind="stable")
            .groupby(["country_iso3", "slice", "column_name", "value"], sort=True, dropna=False)
            .agg(
                row_count=("value", "size"),
                file=("file", "first"),
                first_line=("line", "first"),
                raw_sha256=("raw_sha256", "first"),
            )
            .reset_index()
        )
        grouped["source"] = self.source
        grouped["table_name"] = self.table
        grouped["found_at"] = found_at if found_at is not None else pd.Timestamp.now(tz="UTC")
        grouped["first_line"] = pd.to_numeric(grouped["first_line"], errors="coerce").astype("Int64")
        grouped["row_count"] = grouped["row_count"].astype("Int64")
        return grouped[REVIEW_COLUMNS]


def describe(review: pd.DataFrame, limit: int = 20) -> str:
    """The review list as lines a person reads in a log or on the command line."""
    lines = [
        f"  {r.country_iso3} × {r.slice}: column {r.column_name!r} has {r.value!r} in {r.row_count} row(s), "
        f"first at line {r.first_line} of {r.file}"
        for r in review.head(limit).itertuples()
    ]
    if len(review) > limit:
        lines.append(f"  … and {len(review) - limit} more (see {REVIEW_TABLE})")
    return "\n".join(lines)


@dataclass
class Harmonised:
    """What a source's mapping to the core gives: the facts it could map, the review list
    of values it could not, and the slices (``country_iso3`` × ``indicator_id``) those
    values hold back, whose previous facts are kept."""

    facts: pd.DataFrame
    review: pd.DataFrame
    held_slices: pd.DataFrame

    @classmethod
    def of(cls, facts: pd.DataFrame) -> Harmonised:
        """Facts from a source whose mapping either succeeds or raises (nothing held back)."""
        return cls(facts, empty_review(), pd.DataFrame({"country_iso3": [], "indicator_id": []}))


def empty_review() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="object") for c in REVIEW_COLUMNS})

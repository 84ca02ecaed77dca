"""What one loading step did, for Dagster metadata and the command-line summary."""

from __future__ import annotations

from dataclasses import dataclass, field

from cmc_pipeline.lib import quality
from cmc_pipeline.lib.lazy import pandas as pd
from cmc_pipeline.lib.raw_store import LandedFile
from cmc_pipeline.steps.fetching import FetchedResponse


@dataclass
class LoadReport:
    table: str
    rows_written: int = 0
    countries: list[str] = field(default_factory=list)
    raw_files: list[dict] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)
    countries_without_rows: list[str] = field(default_factory=list)
    demonstration: bool = False
    preview: pd.DataFrame | None = None
    validation: quality.ValidationRun | None = None
    blocked: list[str] = field(default_factory=list)  # countries not promoted: they failed an error rule
    years: str = "all"  # the years replaced: all the source gave, or a selected range
    # Values with no mapping (steps.review.REVIEW_COLUMNS): their slices were held back.
    unmapped: pd.DataFrame | None = None

    def note_landing(self, response: FetchedResponse, landed: LandedFile) -> None:
        self.raw_files.append(
            {
                "dataset": response.dataset_id,
                "url": response.url,
                "sha256": landed.sha256,
                "bytes": len(response.body),
            }
        )
        self.demonstration = self.demonstration or response.demonstration

    def add_skipped(self, skipped: dict[str, int]) -> None:
        for reason, count in skipped.items():
            self.skipped[reason] = self.skipped.get(reason, 0) + count

    @property
    def held_back(self) -> int:
        """How many slices (country × indicator) an unmapped value held back."""
        if self.unmapped is None or self.unmapped.empty:
            return 0
        return len(self.unmapped[["country_iso3", "slice"]].drop_duplicates())

    def finish(self, frame: pd.DataFrame, batch: list[str]) -> LoadReport:
        """Record which of the batch's countries have rows, and a preview."""
        present = set(frame["country_iso3"]) if len(frame) else set()
        self.countries = list(batch)
        self.countries_without_rows = [c for c in batch if c not in present and c not in self.blocked]
        self.preview = frame.head(10)
        return self

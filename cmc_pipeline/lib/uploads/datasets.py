"""The national-upload datasets, as their data contracts describe them.

A dataset is a national upload because ``data_contracts/uploads.<dataset>.odcs.yaml``
exists: the list below is read from those file names, and the command line, the
templates, the portal and the assets all take it from here. Everything about a dataset
that the upload code needs (the columns of the file, its key, its counts, whether
footnote lines are skipped, the tables it is loaded into) is read from its contract;
nothing is listed twice in code.
Columns a contract marks ``filled_by: pipeline`` (upload id, sha256, demonstration flag,
load time) are added when an upload is loaded and are never expected in the file.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cache

from cmc_pipeline.lib.contracts import TableContract, contract_for
from cmc_pipeline.settings import CONTRACTS_DIR

# Alphabetical; from the file names alone, so that listing them parses no YAML.
UPLOAD_DATASETS = tuple(
    sorted(path.name.removeprefix("uploads.").removesuffix(".odcs.yaml")
           for path in CONTRACTS_DIR.glob("uploads.*.odcs.yaml"))
)  # fmt: skip
PIPELINE_COLUMNS = ("upload_id", "raw_sha256", "demonstration_data", "loaded_at")


class UnknownDatasetError(ValueError):
    pass


@dataclass(frozen=True)
class UploadDataset:
    name: str
    history_table: str  # uploads.<dataset>: every accepted upload's rows, with their upload id
    current_table: str  # core.<dataset>: one current row per key
    mart_table: str  # marts.<dataset>
    contract: TableContract  # of the history table, pipeline columns included
    file_contract: TableContract  # the columns a file must have, and the rules its rows must pass

    @property
    def file_columns(self) -> list[str]:
        return self.file_contract.column_names

    @property
    def key_columns(self) -> list[str]:
        return self.file_contract.primary_key

    @property
    def count_columns(self) -> list[str]:
        return [c.name for c in self.file_contract.columns if c.logical_type == "integer"]

    @property
    def code_columns(self) -> list[str]:
        """Columns holding ISO 3166-1 alpha-3 codes, where country names are also understood."""
        return [c for c in self.file_columns if c.endswith("_iso3")]

    @property
    def footnotes_allowed(self) -> bool:
        return self.contract.custom_properties.get("footnote_rows") == "ignored"


def _filled_by_pipeline(column) -> bool:
    custom = {p["property"]: p["value"] for p in column.raw.get("customProperties") or ()}
    return custom.get("filled_by") == "pipeline"


@cache
def upload_dataset(name: str) -> UploadDataset:
    if name not in UPLOAD_DATASETS:
        raise UnknownDatasetError(
            f"{name!r} is not an upload dataset; choose one of {', '.join(UPLOAD_DATASETS)}"
        )
    contract = contract_for(f"uploads.{name}")
    in_file = tuple(c for c in contract.columns if not _filled_by_pipeline(c))
    missing = set(PIPELINE_COLUMNS) - {c.name for c in contract.columns if _filled_by_pipeline(c)}
    if missing:
        raise ValueError(f"{contract.path.name}: columns {sorted(missing)} must be marked filled_by pipeline")
    return UploadDataset(
        name=name,
        history_table=contract.table,
        current_table=f"core.{name}",
        mart_table=f"marts.{name}",
        contract=contract,
        file_contract=replace(contract, columns=in_file),
    )

"""ILO code lists: every code the warehouse accepts for an ILOSTAT breakdown, with labels."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from cmc_pipeline.lib.reference import fold_name

CODE_LIST_FILE = Path(__file__).resolve().parent / "ilo_codelists.csv"


@dataclass(frozen=True)
class IloCodeLists:
    """Every ILO code the warehouse accepts, with its label, by dimension."""

    code_dimension: dict[str, str]
    label_to_code: dict[str, str]

    def dimension_of(self, code: str) -> str | None:
        return self.code_dimension.get(code)

    def code_for_label(self, label: str) -> str | None:
        return self.label_to_code.get(fold_name(label))


@dataclass(frozen=True)
class IloCode:
    dimension: str
    code: str
    label: str


@cache
def ilo_code_rows() -> tuple[IloCode, ...]:
    """Every row of ``ilo_codelists.csv``, with ``{ISO3}`` templates expanded over ISO 3166-1.

    Country-based breakdowns (place of birth, destination …) can name any country in the
    world, so their codes are generated from pycountry rather than listed by hand.
    """
    import pycountry  # only needed here; keeps CLI start-up light

    rows: list[IloCode] = []
    with open(CODE_LIST_FILE, encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            if "{ISO3}" in row["code"]:
                rows.extend(
                    IloCode(
                        row["dimension"],
                        row["code"].replace("{ISO3}", country.alpha_3),
                        row["label"].replace("{COUNTRY}", country.name),
                    )
                    for country in pycountry.countries
                )
            else:
                rows.append(IloCode(row["dimension"], row["code"], row["label"]))
    return tuple(rows)


@cache
def ilo_code_lists() -> IloCodeLists:
    """The ILO codes by dimension, and labels (folded) to codes, for harmonisation."""
    rows = ilo_code_rows()
    return IloCodeLists(
        code_dimension={r.code: r.dimension for r in rows},
        label_to_code={fold_name(r.label): r.code for r in rows},
    )

"""Suppression that holds: a reader who knows every total a release shows, and every
earlier release, cannot work out a suppressed cell.

The attacker here is written apart from ``lib/disclosure.py`` and is stronger than a real
reader: it is told which sums hold in the true figures (regional rows over their members,
``SEX_T`` over the sexes, every ``_T`` code over the other codes, years over quarters) and
which cells kept their value between releases, and it solves the whole linear system.
"""

from __future__ import annotations

import random
import shutil

import numpy as np
import openpyxl
import pandas as pd
import pytest

from cmc_pipeline.lib.disclosure import (
    FREE,
    PRIMARY,
    SECONDARY,
    Release,
    ReleaseLedger,
    protect,
)
from cmc_pipeline.lib.exports import export_marts
from cmc_pipeline.lib.warehouse import Warehouse

CONTROLLED = {
    "marts.trafficking_cases": (
        "persons",
        ["area_code", "period", "sex", "exploitation", "case_stage", "citizenship_iso3"],
    ),
    "marts.work_permits": (
        "permits_granted",
        ["area_code", "period", "sex", "nationality_iso3", "occupation", "permit_type"],
    ),
}


# --- the attacker ------------------------------------------------------------------------


def true_sums(truth: pd.DataFrame, keys: list[str], value: str) -> list[list[tuple[int, float]]]:
    """Every additive relation that holds in the true figures, as (row, coefficient) lists."""
    truth = truth.reset_index(drop=True)
    sums: list[list[int]] = []  # [total, *parts]
    by_key = {tuple(map(str, row)): i for i, row in enumerate(truth[keys].itertuples(index=False))}
    if "countries" in truth:
        for i, row in truth.iterrows():
            members = str(row["countries"]).split()
            if len(members) > 1:
                other = [str(row[k]) for k in keys]
                parts = []
                for m in members:
                    other[keys.index("area_code")] = m
                    if tuple(other) in by_key:
                        parts.append(by_key[tuple(other)])
                sums.append([i, *parts])
    for column in keys:
        if column in ("area_code", "period"):
            continue
        rest = [k for k in keys if k != column]
        for _, group in truth.groupby(rest, sort=False):
            totals = group.index[group[column].astype(str).str.endswith("_T")]
            parts = group.index[~group[column].astype(str).str.endswith("_T")]
            sums += [[t, *parts] for t in totals]
    if "period" in keys:
        sub = truth["period"].astype(str).str.match(r"^\d{4}-[QM]")
        rest = [k for k in keys if k != "period"]
        for _, group in truth[sub].groupby([*rest, truth.loc[sub, "period"].str[:6]], sort=False):
            annual = tuple(
                str(group.iloc[0][k]) if k != "period" else str(group.iloc[0]["period"])[:4] for k in keys
            )
            if annual in by_key:
                sums.append([by_key[annual], *group.index])
    values = truth[value].to_numpy(dtype=float)
    return [
        [(s[0], 1.0), *((p, -1.0) for p in s[1:])]
        for s in sums
        if len(s) > 1 and abs(values[s[0]] - values[s[1:]].sum()) < 1e-9
    ]


def recovered_cells(releases: list[tuple[pd.DataFrame, pd.DataFrame]], keys, value) -> list[str]:
    """Suppressed cells the attacker pins down exactly; ``releases`` holds (truth, published)
    pairs. A cell that kept its value between releases is one unknown in all of them."""
    unknown: dict[tuple, int] = {}
    known: set[tuple] = set()
    for truth, published in releases:
        for key, true, shown in zip(
            truth[keys].astype(str).agg("|".join, axis=1), truth[value], published[value], strict=True
        ):
            if pd.notna(shown):
                assert float(shown) == float(true)
                known.add((key, float(true)))
    equations = []
    for truth, published in releases:
        truth, published = truth.reset_index(drop=True), published.reset_index(drop=True)
        names = truth[keys].astype(str).agg("|".join, axis=1)
        for relation in true_sums(truth, keys, value):
            row: dict[int, float] = {}
            for at, coefficient in relation:
                variable = (names[at], float(truth[value][at]))
                if pd.isna(published[value][at]) and variable not in known:
                    j = unknown.setdefault(variable, len(unknown))
                    row[j] = row.get(j, 0.0) + coefficient
            if any(row.values()):
                equations.append(row)
    if not equations:
        return []
    matrix = np.zeros((len(equations), len(unknown)))
    for i, row in enumerate(equations):
        for j, coefficient in row.items():
            matrix[i, j] = coefficient
    # A cell is pinned down when adding "x_j = ?" as one more equation adds no rank: the
    # equations already imply it.
    rank = np.linalg.matrix_rank(matrix)
    names = {j: variable for variable, j in unknown.items()}
    found = []
    for j in range(len(unknown)):
        if names[j][1] == 0:
            continue  # a zero a reader pins down reveals nothing suppression hides
        probe = np.zeros((1, len(unknown)))
        probe[0, j] = 1.0
        if np.linalg.matrix_rank(np.vstack([matrix, probe])) == rank:
            found.append(names[j][0])
    return sorted(found)


def published_by(release: Release, truth: pd.DataFrame, value: str) -> pd.DataFrame:
    published = truth.reset_index(drop=True).copy()
    published[value] = published[value].astype(float).mask(release.frame["status"].ne(FREE).to_numpy())
    return published


# --- generated worst cases ---------------------------------------------------------------


def regional_table(counts: dict[str, dict[str, int]]) -> pd.DataFrame:
    """Country rows by sex and a CMC row per sex over the countries, as the upload marts are."""
    rows = []
    for iso3, by_sex in counts.items():
        for sex, n in {**by_sex, "SEX_T": sum(by_sex.values())}.items():
            rows.append({"area_code": iso3, "period": "2023", "sex": sex, "persons": n, "countries": iso3})
    for sex in ("SEX_M", "SEX_F", "SEX_T"):
        total = sum(r["persons"] for r in rows if r["sex"] == sex)
        rows.append(
            {
                "area_code": "CMC",
                "period": "2023",
                "sex": sex,
                "persons": total,
                "countries": " ".join(counts),
            }
        )
    return pd.DataFrame(rows)


KEYS = ["area_code", "period", "sex"]


def test_the_issue_example_a_regional_total_no_longer_gives_a_country_away():
    # Trinidad and Tobago's 6 was the CMC 22 minus Jamaica's 0 and Barbados' 16.
    table = regional_table(
        {"JAM": {"SEX_M": 0, "SEX_F": 0}, "BRB": {"SEX_M": 9, "SEX_F": 7}, "TTO": {"SEX_M": 2, "SEX_F": 4}}
    )
    release = protect(Release.of(table, KEYS, "persons"), threshold=5)
    status = release.frame.set_index(["area_code", "sex"])["status"]
    assert status[("TTO", "SEX_M")] == PRIMARY and status[("TTO", "SEX_F")] == PRIMARY
    assert (status == SECONDARY).any()
    assert recovered_cells([(table, published_by(release, table, "persons"))], KEYS, "persons") == []


@pytest.mark.parametrize("seed", range(40))
def test_generated_worst_cases_leave_nothing_recoverable(seed):
    rng = random.Random(seed)
    countries = rng.sample(["ATG", "BRB", "DMA", "GRD", "GUY", "JAM", "KNA", "LCA", "TTO"], rng.randint(2, 6))
    # Mostly small counts and zeros: the cases where suppression is hardest.
    table = regional_table(
        {
            c: {"SEX_M": rng.choice([0, 1, 2, 3, 4, 6, 9, 30]), "SEX_F": rng.choice([0, 1, 2, 4, 7, 12])}
            for c in countries
        }
    )
    release = protect(Release.of(table, KEYS, "persons"), threshold=5)
    published = published_by(release, table, "persons")
    assert recovered_cells([(table, published)], KEYS, "persons") == []
    small = table["persons"].between(1, 4)
    assert published.loc[small, "persons"].isna().all()


def test_zero_is_not_a_small_count():
    table = regional_table({"JAM": {"SEX_M": 0, "SEX_F": 10}, "TTO": {"SEX_M": 14, "SEX_F": 16}})
    release = protect(Release.of(table, KEYS, "persons"), threshold=5)
    assert release.frame["status"].eq(FREE).all()


def test_a_later_release_cannot_be_differenced_with_an_earlier_one():
    first = regional_table(
        {"JAM": {"SEX_M": 3, "SEX_F": 20}, "BRB": {"SEX_M": 9, "SEX_F": 8}, "TTO": {"SEX_M": 11, "SEX_F": 14}}
    )
    earlier = protect(Release.of(first, KEYS, "persons"), threshold=5)
    # Jamaica's men are revised from 3 to 7: no longer small. Everything else is unchanged,
    # so a release that showed the cells protecting the old 3 would not reveal it (the
    # value changed), but a release that suppressed other unchanged cells differently
    # could pin down the earlier release's secondary cells.
    second = regional_table(
        {"JAM": {"SEX_M": 7, "SEX_F": 20}, "BRB": {"SEX_M": 9, "SEX_F": 8}, "TTO": {"SEX_M": 11, "SEX_F": 1}}
    )
    later = protect(Release.of(second, KEYS, "persons"), threshold=5, earlier=[earlier])
    both = [
        (first, published_by(earlier, first, "persons")),
        (second, published_by(later, second, "persons")),
    ]
    assert recovered_cells(both, KEYS, "persons") == []
    # A cell the earlier release hid at the value it still has stays hidden.
    hidden_then = earlier.frame.loc[earlier.frame["status"].ne(FREE)].set_index(["area_code", "sex"])["value"]
    now = later.frame.set_index(["area_code", "sex"])
    for cell, value in hidden_then.items():
        if now.loc[cell, "value"] == value:
            assert now.loc[cell, "status"] != FREE, cell


def test_the_ledger_keeps_each_release_once(tmp_path):
    table = regional_table({"JAM": {"SEX_M": 3, "SEX_F": 20}, "BRB": {"SEX_M": 9, "SEX_F": 8}})
    ledger = ReleaseLedger(tmp_path)
    release = protect(Release.of(table, KEYS, "persons"), threshold=5)
    ledger.record("members", "marts.x", "persons", release, "2026-01-01T00:00:00Z")
    ledger.record("members", "marts.x", "persons", release, "2026-02-01T00:00:00Z")
    (kept,) = ledger.earlier("members", "marts.x", "persons", KEYS)
    assert kept.frame["status"].tolist() == release.frame["status"].tolist()
    assert {r.over for r in kept.relations} == {"area", "sex"}


# --- the bundled build -------------------------------------------------------------------


@pytest.fixture(scope="module")
def members_export(built_warehouse, tmp_path_factory):
    warehouse, _ = built_warehouse
    folder = tmp_path_factory.mktemp("members")
    copy = folder / "cmc.duckdb"
    shutil.copy(warehouse.url, copy)
    writable = Warehouse(str(copy))
    out = folder / "export"
    export_marts(
        writable,
        out,
        audience="members",
        formats=("parquet", "csv", "xlsx", "sdmx-csv"),
        ledger=ReleaseLedger(folder / "ledger"),
    )
    return writable, out


@pytest.mark.parametrize("table", sorted(CONTROLLED))
def test_no_suppressed_cell_of_the_bundled_members_export_can_be_recovered(members_export, table):
    warehouse, out = members_export
    value, keys = CONTROLLED[table]
    truth = warehouse.query(f"SELECT * FROM {table}")
    published = pd.read_csv(out / f"{table.replace('.', '_')}.csv", keep_default_na=False, na_values=[""])
    order = keys
    truth = truth.sort_values(order).reset_index(drop=True)
    published = published.astype({k: str for k in keys}).sort_values(order).reset_index(drop=True)
    truth = truth.astype({k: str for k in keys})
    assert (truth[keys].to_numpy() == published[keys].to_numpy()).all()
    assert published[value].isna().sum() > 0
    assert recovered_cells([(truth, published)], keys, value) == []


@pytest.mark.parametrize("table", sorted(CONTROLLED))
def test_every_format_hides_the_same_cells_with_the_same_conf_status(members_export, table):
    _, out = members_export
    value, keys = CONTROLLED[table]
    name = table.replace(".", "_")
    csv = pd.read_csv(out / f"{name}.csv", keep_default_na=False, na_values=[""])
    parquet = pd.read_parquet(out / f"{name}.parquet")
    sheet = openpyxl.load_workbook(out / f"{name}.xlsx", read_only=True)["data"]
    rows = list(sheet.iter_rows(values_only=True))
    xlsx = pd.DataFrame(rows[1:], columns=rows[0])
    status = f"{value}_conf_status"
    for frame in (csv, parquet, xlsx):
        frame[keys] = frame[keys].astype(str)
    expected = csv.set_index(keys)[[value, status]].sort_index()
    for other in (parquet, xlsx):
        got = other.set_index(keys)[[value, status]].sort_index()
        assert got[status].tolist() == expected[status].tolist()
        assert got[value].isna().tolist() == expected[value].isna().tolist()
        assert got[value].dropna().astype(int).tolist() == expected[value].dropna().astype(int).tolist()
    assert set(expected[status]) == {FREE, PRIMARY, SECONDARY}
    assert expected.loc[expected[status] != FREE, value].isna().all()
    # SDMX-CSV: one observation per count; the controlled count carries the same CONF_STATUS
    sdmx = pd.read_csv(out / f"{name}.sdmx.csv", dtype=str, keep_default_na=False)
    sdmx = sdmx[sdmx["MEASURE"] == value].rename(
        columns={"REF_AREA": "area_code", "TIME_PERIOD": "period"}
        | {k.removesuffix("_iso3").upper(): k for k in keys if k not in ("area_code", "period")}
    )
    got = sdmx.set_index(keys)[["OBS_VALUE", "CONF_STATUS"]].sort_index()
    assert got["CONF_STATUS"].tolist() == expected[status].tolist()
    assert (got["OBS_VALUE"] == "").tolist() == expected[value].isna().tolist()

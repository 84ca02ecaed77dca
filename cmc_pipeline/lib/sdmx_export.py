"""SDMX exports: observations as SDMX-CSV 1.0, and the SDMX-ML 2.1 Structure message a
tool needs before it can load them (.Stat Suite, the Fusion Metadata Registry, ``sdmx1``).

Every SDMX-CSV file names its dataflow (``CMC:DF_<TABLE>(<contract version>)``); the
structure message ``sdmx-structure.xml`` beside it holds, for each dataflow, its data
structure definition (dimensions, time dimension, primary measure, attributes), the
concepts, and every code list a coded component uses:

- the ILO's own code lists, taken as they are from the ILO's SDMX structure message
  bundled with the ILOSTAT source (``ILO:CL_SEX``, ``CL_AGE``, ``CL_OCU``, ``CL_FREQ``,
  ``CL_OBS_STATUS`` …), wherever our columns carry ILO codes;
- ours where no authority's list fits: ``CMC:CL_AREA`` (the CMC countries, ISO 3166-1,
  and the CMC regional groups), ``CMC:CL_COUNTRY`` (ISO 3166-1 with ``_T``), the upload
  code lists (``reference/upload_codelists.csv``), and each table's measures;
- SDMX's ``CL_CONF_STATUS``, only the codes this project uses, marked partial.

Rows are observations: a mart whose rows are an area × year with value columns gives one
observation per value column (``MEASURE``); a national-upload mart gives one per count
column and breakdown. A suppressed count stays as an observation with an empty
``OBS_VALUE`` and its ``CONF_STATUS``.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from cmc_pipeline.lib.contracts import TableContract, contract_for
from cmc_pipeline.lib.disclosure import CONF_STATUS_LABELS
from cmc_pipeline.lib.lazy import pandas as pd
from cmc_pipeline.lib.marts import REGION_CODE, REGION_NAME, indicator_columns
from cmc_pipeline.lib.quality.rules import reference_list
from cmc_pipeline.lib.yaml_files import read_yaml
from cmc_pipeline.settings import PROJECT_DIR, REFERENCE_DIR

AGENCY = "CMC"
AGENCY_NAME = "Caribbean Migration Consultations, labour migration data network"
ILO_STRUCTURE = (
    PROJECT_DIR / "cmc_pipeline/sources/ilostat/snapshots/sdmx_ilo_codelists_CL_ECO_parentsandsiblings.xml"
)
STRUCTURE_FILE = "sdmx-structure.xml"
CONF_STATUS_LIST = ("SDMX", "CL_CONF_STATUS", "1.2")
ATTRIBUTES = ("OBS_STATUS", "CONF_STATUS", "UNIT_MEASURE", "UNIT_MULT", "SOURCE")
CONCEPT_NAMES = {
    "REF_AREA": "Reference area",
    "FREQ": "Frequency",
    "MEASURE": "Measure",
    "SEX": "Sex",
    "AGE": "Age",
    "TIME_PERIOD": "Time period",
    "OBS_VALUE": "Observation value",
    "OBS_STATUS": "Observation status",
    "CONF_STATUS": "Confidentiality status",
    "UNIT_MEASURE": "Unit of measure",
    "UNIT_MULT": "Unit multiplier",
    "SOURCE": "Source",
}
# Code lists of the coded attributes (the other attributes are free text).
ATTRIBUTE_LISTS = {"OBS_STATUS": ("ILO", "CL_OBS_STATUS"), "CONF_STATUS": CONF_STATUS_LIST[:2]}


@dataclass
class SdmxShape:
    """One dataflow: its dimensions in order, each with its code list (agency, id)."""

    table: str
    version: str
    dimensions: list[tuple[str, tuple[str, str], str]] = field(default_factory=list)  # id, list, name
    measures: dict[str, str] = field(default_factory=dict)  # MEASURE code → name

    @property
    def dataflow(self) -> str:
        return f"DF_{self.table.split('.', 1)[1].upper()}"

    @property
    def header(self) -> list[str]:
        return ["DATAFLOW", *(d for d, _, _ in self.dimensions), "TIME_PERIOD", "OBS_VALUE", *ATTRIBUTES]


# --- observations ------------------------------------------------------------------------


def to_sdmx_observations(
    frame: pd.DataFrame, contract: TableContract
) -> tuple[pd.DataFrame, SdmxShape] | None:
    """SDMX-CSV rows of a mart, and the shape of its dataflow; None for a mart whose rows are
    not observations of an area and a period."""
    if "area_code" in frame and "period" in frame:
        return _upload_observations(frame, contract)
    area = "country_iso3" if "country_iso3" in frame else "group_code" if "group_code" in frame else None
    if area is None or "year" not in frame:
        return None
    shape = SdmxShape(contract.table, contract.version)
    shape.dimensions = [
        ("REF_AREA", (AGENCY, "CL_AREA"), CONCEPT_NAMES["REF_AREA"]),
        ("FREQ", ("ILO", "CL_FREQ"), CONCEPT_NAMES["FREQ"]),
        ("MEASURE", (AGENCY, f"CL_MEASURE_{shape.dataflow[3:]}"), CONCEPT_NAMES["MEASURE"]),
        ("SEX", ("ILO", "CL_SEX"), CONCEPT_NAMES["SEX"]),
        ("AGE", ("ILO", "CL_AGE"), CONCEPT_NAMES["AGE"]),
    ]
    if "indicator" in frame and "value" in frame:  # already long: one indicator per row
        described = contract_for("marts.labour_migration_indicators")
        long = frame.rename(columns={"indicator": "MEASURE", "value": "OBS_VALUE"})
        long["UNIT_MEASURE"] = long.get("unit", "")
        long["OBS_STATUS"] = ""
        long["SOURCE"] = "CMC regional aggregate of " + long.get("countries", "").astype(str)
        sex_age = long["MEASURE"].map(_sex_and_age_of)
        long["SEX"], long["AGE"] = sex_age.str[0], sex_age.str[1]
        names = {c.name: _short(c.description) or c.name for c in described.columns}
        shape.measures = {m: names.get(m, m) for m in sorted(long["MEASURE"].unique())}
    else:
        measures = [
            c
            for c in contract.columns
            if c.logical_type == "number" and not c.name.endswith(("_source", "_status"))
        ]
        if not measures:
            return None
        parts = []
        for measure in measures:
            part = frame[[area, "year", measure.name]].rename(columns={measure.name: "OBS_VALUE"})
            part["MEASURE"] = measure.name
            part["OBS_STATUS"] = frame.get(f"{measure.name}_status", pd.Series("", index=frame.index)).fillna(
                ""
            )
            part["SOURCE"] = frame.get(f"{measure.name}_source", pd.Series("", index=frame.index)).fillna("")
            part["UNIT_MEASURE"] = _unit_of(measure.name)
            part["SEX"], part["AGE"] = _sex_and_age_of(measure.name)
            parts.append(part[part["OBS_VALUE"].notna()])
            shape.measures[measure.name] = _short(measure.description) or measure.name
        long = pd.concat(parts, ignore_index=True)
    out = pd.DataFrame(
        {
            "DATAFLOW": f"{AGENCY}:{shape.dataflow}({shape.version})",
            "REF_AREA": long[area],
            "FREQ": "A",
            "MEASURE": long["MEASURE"],
            "SEX": long["SEX"],
            "AGE": long["AGE"],
            "TIME_PERIOD": long["year"].astype(str),
            "OBS_VALUE": long["OBS_VALUE"],
            "OBS_STATUS": long["OBS_STATUS"],
            "CONF_STATUS": "",
            "UNIT_MEASURE": long["UNIT_MEASURE"],
            "UNIT_MULT": 0,
            "SOURCE": long["SOURCE"],
        }
    )
    return out[shape.header], shape


def _upload_observations(frame: pd.DataFrame, contract: TableContract) -> tuple[pd.DataFrame, SdmxShape]:
    """A national-upload mart: area × period × breakdowns, one observation per count."""
    from cmc_pipeline.lib.uploads.datasets import upload_dataset

    spec = upload_dataset(contract.table.split(".", 1)[1])
    breakdowns = [k for k in spec.key_columns if k not in ("country_iso3", "period")]
    shape = SdmxShape(contract.table, contract.version)
    shape.dimensions = [
        ("REF_AREA", (AGENCY, "CL_AREA"), CONCEPT_NAMES["REF_AREA"]),
        ("FREQ", ("ILO", "CL_FREQ"), CONCEPT_NAMES["FREQ"]),
        ("MEASURE", (AGENCY, f"CL_MEASURE_{shape.dataflow[3:]}"), CONCEPT_NAMES["MEASURE"]),
    ]
    columns = {c.name: c for c in contract.columns}
    for column in breakdowns:
        shape.dimensions.append(
            (_dimension_id(column), codelist_of(columns[column]), _short(columns[column].description))
        )
    parts = []
    for count in spec.count_columns:
        status = frame.get(f"{count}_conf_status", pd.Series("", index=frame.index)).fillna("")
        part = pd.DataFrame(
            {
                "DATAFLOW": f"{AGENCY}:{shape.dataflow}({shape.version})",
                "REF_AREA": frame["area_code"],
                "FREQ": frame["frequency"],
                "MEASURE": count,
                **{_dimension_id(b): frame[b] for b in breakdowns},
                "TIME_PERIOD": frame["period"].astype(str),
                "OBS_VALUE": frame[count],
                "OBS_STATUS": "",
                "CONF_STATUS": status,
                "UNIT_MEASURE": next(
                    (
                        p["value"]
                        for p in columns[count].raw.get("customProperties") or ()
                        if p["property"] == "unit"
                    ),
                    "",
                ),
                "UNIT_MULT": 0,
                "SOURCE": [
                    f"CMC total of {c}" if a == REGION_CODE else ""
                    for a, c in zip(frame["area_code"], frame["countries"], strict=True)
                ],
            }
        )
        # A suppressed count stays, empty, with its confidentiality status.
        parts.append(part[part["OBS_VALUE"].notna() | part["CONF_STATUS"].isin(["C", "D"])])
        shape.measures[count] = _short(columns[count].description) or count
    return pd.concat(parts, ignore_index=True)[shape.header], shape


def _dimension_id(column: str) -> str:
    return column.removesuffix("_iso3").upper()


def _short(text: str) -> str:
    """The first sentence of a description, as a name."""
    first = " ".join(str(text or "").split()).split(". ")[0].rstrip(".")
    return first[:200]


def codelist_of(column) -> tuple[str, str]:
    """The code list (agency, id) a contract column's code-list rule names."""
    for rule in column.raw.get("quality") or ():
        for reference in reference_list(rule.get("arguments") or {}):
            parts = urlsplit(reference)  # as the rules read it: <file>?<filter>#<column>
            dimension = dict(parse_qsl(parts.query)).get("dimension")
            if parts.path.endswith("ilo_codelists.csv") and dimension:
                return "ILO", f"CL_{dimension.upper()}"
            if parts.path.endswith("upload_codelists.csv") and dimension:
                return AGENCY, f"CL_{dimension.upper()}"
            if parts.path.endswith("countries.csv") and parts.fragment == "iso3":
                return AGENCY, "CL_AREA"
            if parts.path == "iso3166-1":
                return AGENCY, "CL_COUNTRY"
    raise ValueError(f"column {column.name} has no code list to describe it in SDMX")


def _sex_and_age_of(column: str) -> tuple[str, str]:
    """ILO sex and age codes of a mart column (derived columns: total, no age breakdown)."""
    for spec in indicator_columns():
        if spec.column == column:
            return spec.sex, spec.age
    return "SEX_T", "_Z"


def _unit_of(column: str) -> str:
    """Unit of a mart value column: from the mart column spec, or from the derived
    column's suffix (shares and rates are percent, amounts US$)."""
    spec = {c.column: c.unit for c in indicator_columns()}
    if column in spec:
        return spec[column]
    if column.endswith("_pct"):
        return "percent"
    if "_usd" in column:
        return "USD"
    return ""


# --- the structure message ----------------------------------------------------------------


@cache
def ilo_codelists() -> dict:
    """The ILO's code lists, read from the ILO's own SDMX structure message."""
    import sdmx

    return dict(sdmx.read_sdmx(ILO_STRUCTURE).codelist)


def _our_codelist(list_id: str):
    """Code lists the project maintains: areas, countries, the upload code lists."""
    import pycountry
    from sdmx.model import common

    codes: dict[str, str] = {}
    if list_id == "CL_AREA":
        with open(REFERENCE_DIR / "countries.csv", encoding="utf-8", newline="") as f:
            codes.update({row["iso3"]: row["name_en"] for row in csv.DictReader(f)})
        codes[REGION_CODE] = REGION_NAME
        groups = read_yaml(REFERENCE_DIR / "regional_groups.yaml")
        codes.update({g["group_code"]: g["name"] for g in groups["groups"]})
        name = "CMC countries (ISO 3166-1 alpha-3) and regional groups"
    elif list_id == "CL_COUNTRY":
        codes = {c.alpha_3: c.name for c in pycountry.countries} | {"_T": "Total"}
        name = "Countries (ISO 3166-1 alpha-3), and _T for all"
    else:
        dimension = list_id.removeprefix("CL_").lower()
        with open(REFERENCE_DIR / "upload_codelists.csv", encoding="utf-8", newline="") as f:
            codes = {r["code"]: r["label"] for r in csv.DictReader(f) if r["dimension"] == dimension}
        if not codes:
            raise ValueError(f"no code list {list_id} in upload_codelists.csv")
        name = dimension.replace("_", " ").capitalize()
    codelist = common.Codelist(
        id=list_id,
        name=name,
        maintainer=common.Agency(id=AGENCY),
        version="1.0",
        is_final=False,
        is_external_reference=False,
    )
    for code, label in codes.items():
        codelist.append(common.Code(id=code, name=label))
    return codelist


def structure_message(shapes: list[SdmxShape], prepared: datetime | None = None):
    """The SDMX-ML 2.1 Structure message for the dataflows of an export."""
    from sdmx.message import Header, StructureMessage
    from sdmx.model import common
    from sdmx.model import v21 as model

    agency = common.Agency(id=AGENCY, name=AGENCY_NAME)
    message = StructureMessage(
        header=Header(
            id=f"CMC-STRUCTURE-{(prepared or datetime.now(UTC)).strftime('%Y%m%dT%H%M%S')}",
            prepared=prepared or datetime.now(UTC),
            sender=agency,
            test=False,
        )
    )
    concepts = common.ConceptScheme(
        id="CS_CMC",
        name="CMC concepts",
        maintainer=agency,
        version="1.0",
        is_final=False,
        is_external_reference=False,
    )
    codelists: dict[tuple[str, str], object] = {}

    def codelist(ref: tuple[str, str]):
        if ref not in codelists:
            if ref[0] == "ILO":
                codelists[ref] = ilo_codelists()[ref[1]]
            elif ref == CONF_STATUS_LIST[:2]:
                conf = common.Codelist(
                    id=ref[1],
                    name="Confidentiality status",
                    maintainer=common.Agency(id="SDMX"),
                    version=CONF_STATUS_LIST[2],
                    is_final=True,
                    is_partial=True,
                    is_external_reference=False,
                )
                for code, label in CONF_STATUS_LABELS.items():
                    conf.append(common.Code(id=code, name=label))
                codelists[ref] = conf
            else:
                codelists[ref] = _our_codelist(ref[1])
        return codelists[ref]

    def concept(concept_id: str, name: str):
        if concept_id not in concepts:
            concepts.append(common.Concept(id=concept_id, name=name or concept_id))
        return concepts[concept_id]

    structures = []
    for shape in shapes:
        dsd = model.DataStructureDefinition(
            id=f"DSD_{shape.dataflow[3:]}",
            name=f"Structure of {shape.table}",
            maintainer=agency,
            version=shape.version,
            is_final=False,
            is_external_reference=False,
        )
        dsd.dimensions.id, dsd.attributes.id, dsd.measures.id = (
            "DimensionDescriptor",
            "AttributeDescriptor",
            "MeasureDescriptor",
        )
        for dimension_id, ref, name in shape.dimensions:
            if ref[1].startswith("CL_MEASURE_"):
                measures = common.Codelist(
                    id=ref[1],
                    name=f"Measures of {shape.table}",
                    maintainer=agency,
                    version=shape.version,
                    is_final=False,
                    is_external_reference=False,
                )
                for code, label in shape.measures.items():
                    measures.append(common.Code(id=code, name=label))
                codelists[ref] = measures
            dsd.dimensions.getdefault(
                dimension_id,
                concept_identity=concept(dimension_id, name),
                local_representation=common.Representation(enumerated=codelist(ref)),
            )
        dsd.dimensions.getdefault(
            "TIME_PERIOD", cls=common.TimeDimension, concept_identity=concept("TIME_PERIOD", "Time period")
        )
        dsd.measures.getdefault(
            "OBS_VALUE", concept_identity=concept("OBS_VALUE", CONCEPT_NAMES["OBS_VALUE"])
        )
        for attribute in ATTRIBUTES:
            representation = (
                common.Representation(enumerated=codelist(ATTRIBUTE_LISTS[attribute]))
                if attribute in ATTRIBUTE_LISTS
                else None
            )
            dsd.attributes.getdefault(
                attribute,
                concept_identity=concept(attribute, CONCEPT_NAMES[attribute]),
                local_representation=representation,
                related_to=model.PrimaryMeasureRelationship(),
                usage_status=model.UsageStatus.conditional,
            )
        structures.append(dsd)
        message.add(
            model.DataflowDefinition(
                id=shape.dataflow,
                name=f"CMC {shape.table}",
                maintainer=agency,
                version=shape.version,
                structure=dsd,
                is_final=False,
                is_external_reference=False,
            )
        )
    for item in codelists.values():
        message.add(item)
    message.add(concepts)
    for dsd in structures:
        message.add(dsd)
    return message


def write_structure(shapes: list[SdmxShape], folder: Path) -> Path:
    import sdmx

    path = Path(folder) / STRUCTURE_FILE
    path.write_bytes(sdmx.to_xml(structure_message(shapes), pretty_print=True))
    return path

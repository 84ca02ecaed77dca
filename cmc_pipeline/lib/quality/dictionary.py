"""The data dictionary (``docs/data-dictionary.md``), generated from the contracts.

Nothing here is written by hand: run ``cmc contracts docs`` after changing a contract, and
a test fails while the committed dictionary differs from what the contracts say.
"""

from __future__ import annotations

from cmc_pipeline.lib.contracts import TableContract, all_contracts
from cmc_pipeline.lib.quality.rules import STRUCTURAL_RULE_IDS, Rule, rules_for
from cmc_pipeline.settings import PROJECT_DIR

DICTIONARY_PATH = PROJECT_DIR / "docs" / "data-dictionary.md"


def render_data_dictionary() -> str:
    contracts = list(all_contracts().values())
    lines = [
        "# Data dictionary",
        "",
        "Generated from `data_contracts/*.odcs.yaml` by `cmc contracts docs`; do not edit by hand.",
        "Every table also has the structural checks "
        + ", ".join(f"`{r}`" for r in STRUCTURAL_RULE_IDS)
        + " (columns, types, required values and primary key as the contract states them; always errors).",
        "Rules of severity **error** block a country's rows from being promoted; **warning** rules are",
        "recorded and the load goes on.",
        "",
        "| Table | Version | Status | Dissemination | Rows are |",
        "|---|---|---|---|---|",
    ]
    for contract in contracts:
        level = contract.custom_properties.get("dissemination_level", "")
        lines.append(
            f"| [{contract.table}](#{_anchor(contract.table)}) | {contract.version} | "
            f"{contract.document.get('status', '')} | {level} | {_cell(contract.description)} |"
        )
    for contract in contracts:
        lines += ["", *_table_section(contract)]
    return "\n".join(lines) + "\n"


def _table_section(contract: TableContract) -> list[str]:
    description = contract.document.get("description") or {}
    owners = ", ".join(
        f"{m.get('username')} ({m.get('role')})"
        for m in contract.document.get("team") or []
        if m.get("username")
    )
    lines = [
        f"## {contract.table}",
        "",
        f"Contract `{contract.path.name}`, version {contract.version}. {contract.description}",
        "",
    ]
    for key in ("purpose", "limitations", "usage"):
        if description.get(key):
            lines.append(f"- **{key.capitalize()}**: {_cell(description[key])}")
    lines.append(f"- **Owner**: {owners or 'not stated'}")
    for key, value in contract.custom_properties.items():
        lines.append(f"- **{key.replace('_', ' ').capitalize()}**: {_cell(value)}")
    if contract.primary_key:
        lines.append("- **Primary key**: " + ", ".join(f"`{k}`" for k in contract.primary_key))
    rules = [r for r in rules_for(contract) if r.id not in STRUCTURAL_RULE_IDS]
    by_column: dict[str, list[Rule]] = {}
    for rule in rules:
        if rule.column and rule.kind != "compound_unique" and rule.kind != "sql":
            by_column.setdefault(rule.column, []).append(rule)
    lines += [
        "",
        "| Column | Type | Required | Unit | Description | Allowed values and ranges |",
        "|---|---|---|---|---|---|",
    ]
    for column in contract.columns:
        units = {p.get("property"): p.get("value") for p in column.raw.get("customProperties") or []}
        allowed = "; ".join(f"{_allowed(r)} (`{r.id}`, {r.severity})" for r in by_column.get(column.name, []))
        lines.append(
            f"| `{column.name}` | {column.logical_type} | {'yes' if column.required else ''} | "
            f"{_cell(units.get('unit', ''))} | {_cell(column.description)} | {allowed} |"
        )
    table_rules = [r for r in rules if r.column is None or r.kind in ("compound_unique", "sql")]
    if table_rules:
        lines += ["", "| Rule | Severity | What it checks |", "|---|---|---|"]
        for rule in table_rules:
            text = f"**{rule.name}**. {rule.description}".strip()
            lines.append(f"| `{rule.id}` | {rule.severity} | {_cell(text)} |")
    return lines


def _allowed(rule: Rule) -> str:
    if rule.kind == "valid_values" and rule.reference:
        listed = sorted(rule.valid_values or ()) if len(rule.valid_values or ()) <= 12 else []
        extra = sorted(v for v in (rule.source.get("arguments") or {}).get("validValues") or ())
        text = "codes from " + ", ".join(f"`{r}`" for r in rule.reference.split("; "))
        if extra:
            text += " or " + ", ".join(f"`{v}`" for v in extra)
        return text + (f" ({', '.join(listed)})" if listed else "")
    if rule.kind == "valid_values":
        return "one of " + ", ".join(f"`{v}`" for v in sorted(rule.valid_values or ()))
    return rule.expected()


def _cell(text) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _anchor(table: str) -> str:
    return table.replace(".", "")

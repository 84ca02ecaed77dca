"""The regional report: a self-contained HTML file rebuilt whenever the marts change."""

from collections.abc import Iterator

import dagster as dg

from cmc_pipeline.defs.automation.rebuild import REBUILT_WHEN_INPUTS_CHANGE
from cmc_pipeline.defs.marts.assets import (
    data_coverage,
    governance_needs,
    labour_migration_indicators,
    migration_corridors,
    mirror_flows,
    regional_aggregates,
    work_permits,
)
from cmc_pipeline.defs.marts.assets import remittances as remittances_mart
from cmc_pipeline.defs.partitions import WAREHOUSE_POOL
from cmc_pipeline.defs.resources import WarehouseResource
from cmc_pipeline.lib import report
from cmc_pipeline.lib.snapshots import DEMONSTRATION_LABEL


@dg.asset(
    key=["reports", "regional_report"],
    group_name="reports",
    kinds={"html"},
    deps=[
        labour_migration_indicators,
        remittances_mart,
        data_coverage,
        regional_aggregates,
        migration_corridors,
        governance_needs,
        work_permits,  # section 6, the work permits member states report
        mirror_flows,  # section 7, where two member states' figures differ
    ],
    automation_condition=REBUILT_WHEN_INPUTS_CHANGE,
    # Only reads, but an open DuckDB file keeps writers in other processes out: take the
    # warehouse slot like the writers do.
    pool=WAREHOUSE_POOL,
    output_required=False,
)
def regional_report(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> Iterator:
    """The regional report for the working group, one HTML file that opens offline: where data
    is missing (country × indicator heat-map), the key labour-migration indicators per country
    over time, remittances, migration corridors, shared governance needs, and the state of
    every source. Each figure names its sources and carries the demonstration-data label where
    it applies. Written to ``$CMC_DATA_DIR/reports/regional_report.html``; ``cmc report`` writes
    the same file on demand."""
    try:
        summary = report.write_report(warehouse.get(), report.default_output_path())
    except report.ReportError as exc:
        # A warehouse with nothing to report on yet (a first `cmc import` of governance needs,
        # say) is a normal state: say why no report was written rather than fail the run.
        context.log.warning(f"regional report not written: {exc}")
        yield dg.AssetObservation(asset_key=context.asset_key, metadata={"skipped": str(exc)})
        return
    metadata = {
        "path": dg.MetadataValue.path(str(summary.path)),
        "figures": summary.figures,
        "size_kb": round(summary.size_bytes / 1024),
        "sections_not_loaded": ", ".join(summary.sections_not_loaded) or "none",
    }
    if summary.demonstration:
        metadata["data_label"] = DEMONSTRATION_LABEL
    yield dg.MaterializeResult(metadata=metadata)

"""Landing: every fetched body or imported file is kept in the raw store before it is read.

Provenance (producer, licence) comes from the source's ``origin.yaml``, so the raw layer
says on what terms each file may be used without a second list to keep in step.
"""

from __future__ import annotations

from pathlib import Path

from cmc_pipeline.lib.raw_store import LandedFile, land_bytes, utc_now_iso
from cmc_pipeline.sources import licence_statement, origin
from cmc_pipeline.steps.fetching import FetchedResponse


def land_response(response: FetchedResponse, raw_root: Path, *, uploader: str | None = None) -> LandedFile:
    """Keep a fetched response (or a user's file, with ``uploader``) in the raw store."""
    who = {"uploader": uploader, "original_name": Path(response.url).name} if uploader else {}
    return land_bytes(
        raw_root,
        response.source,
        response.body,
        suffix=response.suffix,
        provenance={
            "url": response.url,
            "retrieved_at": response.retrieved_at,
            "producer": origin(response.source).producer,
            "licence": licence_statement(response.source),
            "api": response.api,
            "dataset": response.dataset_id,
            "demonstration_data": response.demonstration,
            **who,
        },
    )


def downloaded_file(path: Path, source: str, *, api: str = "file") -> FetchedResponse:
    """A file a user downloaded from a source's web site, as the response it stands for."""
    path = Path(path)
    return FetchedResponse(
        source=source,
        api=api,
        dataset_id=f"file:{path.name}",
        url=str(path),
        body=path.read_bytes(),
        retrieved_at=utc_now_iso(),
        demonstration=False,
        suffix=path.suffix.lower() or ".bin",
    )


def land_download(path: Path, raw_root: Path, source: str, *, uploader: str) -> tuple[bytes, LandedFile]:
    """Keep a file a user downloaded in the raw store, saying who loaded it; returns its
    bytes and where they were landed."""
    response = downloaded_file(path, source)
    return response.body, land_response(response, raw_root, uploader=uploader)

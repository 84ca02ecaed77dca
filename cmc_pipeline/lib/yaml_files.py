"""YAML read with libyaml's safe loader where PyYAML was built with it.

The contracts, catalogues and reference lists are read by every command and every build;
the pure-Python loader is several times slower than libyaml's and builds the same values
(both use PyYAML's safe constructor)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_yaml(path: Path | str) -> Any:
    """The document in the YAML file at ``path``; a syntax error names the file."""
    with open(path, encoding="utf-8") as handle:
        return yaml.load(handle, Loader=SAFE_LOADER)


def parse_yaml(text: str) -> Any:
    """The document in a YAML text."""
    return yaml.load(text, Loader=SAFE_LOADER)

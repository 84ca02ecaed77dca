"""requirements.lock: the whole environment, pinned with hashes, nothing stale, and enough
to install the project on a fresh machine."""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
import sys
import tomllib

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from cmc_pipeline.settings import PROJECT_DIR

LOCK = PROJECT_DIR / "requirements.lock"
# What `python -m venv` puts in every environment, and the project itself.
NOT_LOCKED = {"pip", "setuptools", "cmc-pipeline"}


def locked() -> dict[str, tuple[str, list[str]]]:
    """name → (version, hashes) of every entry of the lock file."""
    entries: dict[str, tuple[str, list[str]]] = {}
    text = LOCK.read_text(encoding="utf-8").replace("\\\n", " ")
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        match = re.match(r"^([A-Za-z0-9._-]+)==(\S+)\s*(.*)$", line)
        assert match, f"not an exact pin: {line[:80]}"
        hashes = re.findall(r"--hash=sha256:([0-9a-f]{64})", match.group(3))
        entries[canonicalize_name(match.group(1))] = (match.group(2), hashes)
    return entries


def test_every_locked_package_is_pinned_with_its_hashes():
    entries = locked()
    assert len(entries) > 100
    unhashed = [name for name, (_, hashes) in entries.items() if not hashes]
    assert not unhashed


def test_the_lock_is_exactly_what_is_installed_no_stale_pins():
    installed = {
        canonicalize_name(d.metadata["Name"]): d.version
        for d in importlib.metadata.distributions()
        if canonicalize_name(d.metadata["Name"]) not in NOT_LOCKED
    }
    entries = {name: version for name, (version, _) in locked().items()}
    assert sorted(set(entries) - set(installed)) == [], "locked but never installed"
    assert sorted(set(installed) - set(entries)) == [], "installed but not locked"
    assert {n: v for n, v in installed.items() if entries[n] != v} == {}


def test_every_direct_dependency_is_locked_at_its_pin():
    project = tomllib.loads((PROJECT_DIR / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    entries = locked()
    for text in [*project["dependencies"], *project["optional-dependencies"]["dev"]]:
        requirement = Requirement(text)
        version, _ = entries[canonicalize_name(requirement.name)]
        assert requirement.specifier.contains(version), (text, version)


@pytest.mark.slow
def test_a_fresh_environment_installs_from_the_lock_alone(tmp_path):
    """What `make` does on a fresh machine: every package checked against its hash."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check", "--quiet"]
    subprocess.run([*pip, "install", "--require-hashes", "--no-deps", "-r", str(LOCK)], check=True)
    subprocess.run([*pip, "install", "--no-deps", "-e", str(PROJECT_DIR)], check=True)
    subprocess.run([*pip, "check"], check=True)
    imported = subprocess.run(
        [str(venv / "bin" / "cmc"), "--help"], check=True, capture_output=True, text=True
    )
    assert "cmc-pipeline" in imported.stdout

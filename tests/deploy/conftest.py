"""Shared fixtures of the deployment checks: rendered overlays and what the code defines.

These tests read files and import modules only: no database, broker, network or Docker.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy import kustomize, support

K8S = support.DEPLOY / "k8s"
OVERLAYS = ("dev", "prod", "prod-hpa")


@pytest.fixture(scope="session")
def rendered() -> dict[str, list[kustomize.Resource]]:
    """Every overlay, rendered as ``kubectl kustomize`` would (see kustomize.py)."""
    return {name: kustomize.build(K8S / "overlays" / name) for name in OVERLAYS}


@pytest.fixture(scope="session")
def env_names() -> frozenset[str]:
    names = support.env_names_read()
    # The collector itself works: it finds variables of each kind of reader.
    assert {"DATABASE_URL", "OPS_PORT", "NOTION_EMULATOR_PORT", "LOG_FORMAT"} <= names
    return names


@pytest.fixture(scope="session")
def compose() -> dict[str, Any]:
    path = support.DEPLOY / "docker-compose.yml"
    data: dict[str, Any] = yaml.safe_load(path.read_text())
    return data


def read_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())

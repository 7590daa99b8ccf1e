"""Shared fixtures. Real servers come from tests/integration/conftest.py."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The read-only test data beside the checkout; tests that need it skip without it."""
    if not SHARED.is_dir():
        pytest.skip("../shared (test data) is not present")
    return SHARED

"""Shared test fixtures. Kernels compile once per test session (and are cached on disk under
NUMBA_CACHE_DIR), so tests render tiny images through the same compiled launcher."""
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def scenes_dir() -> Path:
    """The bundled scenes folder."""
    return ROOT / "scenes"

"""Benchmarks (not part of the test suite): `python -m pytest benchmarks/ --benchmark-only`.

Data of the peers' scenes (the 1M-triangle mesh and its ray sets) is looked up in $PEERS_DATA
or .peers/data (made by ../shared/peers/setup.sh); benchmarks that need it skip without it.
"""
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def peers_data() -> Path:
    path = Path(os.environ.get("PEERS_DATA", ROOT / ".peers" / "data"))
    if not (path / "mesh_1m.npz").exists():
        pytest.skip(f"peers' benchmark data not found in {path} (run ../shared/peers/setup.sh embree)")
    return path

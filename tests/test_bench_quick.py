"""`bench/run --quick` produces every figure (the targets are not asserted)."""

import json
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIGURES = (
    "import_accounts_per_s",
    "lookup_p50_ms_1k",
    "lookup_p50_ms_1m",
    "lookup_ratio_1m_1k",
    "forward_msgs_per_s",
    "forward_ratio_to_hash",
    "lmtp_msgs_per_s",
    "create_to_deliverable_s",
    "cli_show_wall_s",
    "cli_show_peak_mib",
)


@pytest.mark.daemons
def test_quick_benchmark_produces_every_figure(tmp_path):
    out = tmp_path / "bench.json"
    result = subprocess.run(
        [str(ROOT / "bench" / "run"), "--quick", "--throwaway", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )

    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads(out.read_text())
    missing = [key for key in FIGURES if not isinstance(figures.get(key), float | int)]
    assert missing == [], result.stderr[-3000:]
    assert figures["seq_scans"] == {"1k": [], "5k": []}
    for key in FIGURES:
        assert key in result.stdout

"""Under plain DDP (2 CPU processes): a NaN loss on one rank stops every rank with the same TrainingError (no
hang), and the VAE's latent usage is computed over the validation data of both ranks."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "ddp_training_health.py"


@pytest.mark.slow
@pytest.mark.distributed
def test_nan_on_one_rank_stops_all_and_latent_usage_covers_all_ranks(tmp_path):
    result = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    outcome = json.loads((tmp_path / "result.json").read_text())
    assert outcome["error"] is not None and "became nan at global step 6" in outcome["error"]
    assert "(on another process)" in outcome["error"], "rank 0's own loss was finite"
    assert outcome["logged_active_units"] == outcome["expected_active_units"]
    assert outcome["logged_kl_per_unit_max"] == pytest.approx(outcome["expected_kl_per_unit_max"], rel=1e-5)

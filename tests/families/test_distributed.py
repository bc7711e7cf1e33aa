"""Each family trains under plain DDP (2 CPU processes, gloo) and ends with identical weights on both ranks."""

import subprocess
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "ddp_family.py"


def run_family(family: str, out: Path, *extra: str) -> tuple[dict, dict]:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), family, str(out), *extra],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return torch.load(out / "rank0.pt", weights_only=True), torch.load(out / "rank1.pt", weights_only=True)


@pytest.mark.distributed
@pytest.mark.parametrize("family", ["adversarial", "variational", "autoregressive"])
def test_plain_ddp_keeps_ranks_identical(family, tmp_path):
    rank0, rank1 = run_family(family, tmp_path, "--strategy", "ddp", "--devices", "2", "--steps", "6")
    assert rank0["global_step"] == rank1["global_step"] == 6
    differing = [k for k in rank0["state"] if not torch.equal(rank0["state"][k], rank1["state"][k])]
    assert not differing, f"parameters differ between ranks: {differing[:5]}"

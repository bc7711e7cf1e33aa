"""The metrics of 2 DDP processes (gloo, CPU) equal those of 1 process on the same data and weights."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

DDP_SCRIPT = Path(__file__).resolve().parent / "scripts" / "ddp_evaluation.py"


def values(root, case):
    section = json.loads((root / case / "metrics.json").read_text())["test"]
    return section["world_size"], {name: record["value"] for name, record in section["metrics"].items()}, {
        name: (record["num_real"], record["num_generated"]) for name, record in section["metrics"].items()
    }


@pytest.mark.distributed
def test_two_processes_give_the_values_of_one(ddp_cases, tmp_path):
    ddp_cases.run(tmp_path / "one", devices=1)
    result = subprocess.run(
        [sys.executable, str(DDP_SCRIPT), str(tmp_path / "two"), "--devices", "2", "--strategy", "ddp"],
        capture_output=True, text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("genfw: metrics written to") == 3  # rank 0 only writes and prints
    for case in ("vae", "text", "audio"):
        world_one, one, counts_one = values(tmp_path / "one", case)
        world_two, two, counts_two = values(tmp_path / "two", case)
        assert (world_one, world_two) == (1, 2)
        assert counts_one == counts_two
        assert one.keys() == two.keys()
        for name in one:
            assert two[name] == pytest.approx(one[name], rel=1e-5, abs=1e-6), (case, name)

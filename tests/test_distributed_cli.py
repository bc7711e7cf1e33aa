"""`genfw fit` under DDP from the command line: 2 processes on one machine, and 2 torchrun 'nodes'."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

TESTS = Path(__file__).resolve().parent
FIT = ["fit", "--model", "toys.models.ToyImageGAN", "--data", "toys.data.ToyImages", "--trainer.accelerator", "cpu",
       "--trainer.strategy", "ddp", "--trainer.max_steps", "3", "--trainer.enable_progress_bar", "false",
       "--trainer.limit_val_batches", "0", "--seed_everything", "7"]


def environment() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), *filter(None, sys.path)]), "OMP_NUM_THREADS": "1"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.distributed
def test_genfw_fit_with_two_ddp_processes(tmp_path):
    result = subprocess.run([sys.executable, "-m", "gen_framework", *FIT, "--trainer.devices", "2",
                             "--trainer.default_root_dir", str(tmp_path), "--trainer.logger.init_args.save_dir", str(tmp_path)],
                            env=environment(), cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    checkpoint = torch.load(next(tmp_path.rglob("last.ckpt")), weights_only=True)
    assert checkpoint["global_step"] == 3
    # the per-rank training streams derive from --seed_everything, and a resumed run continues them
    assert checkpoint["gen_framework"]["training_seed"] == 7


@pytest.mark.slow
@pytest.mark.distributed
def test_two_torchrun_nodes_complete_a_short_fit(tmp_path):
    port = str(free_port())
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--nproc-per-node", "1",
                "--master-addr", "127.0.0.1", "--master-port", port]
    nodes = []
    for rank in (0, 1):
        out = tmp_path / f"node{rank}"
        out.mkdir()
        nodes.append(subprocess.Popen(
            [*torchrun, "--node-rank", str(rank), "-m", "gen_framework", *FIT, "--trainer.num_nodes", "2",
             "--trainer.devices", "1", "--trainer.default_root_dir", str(out), "--trainer.logger.init_args.save_dir", str(out)],
            env=environment(), cwd=out, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        ))
    outputs = [node.communicate(timeout=300) for node in nodes]
    for node, (_, stderr) in zip(nodes, outputs):
        assert node.returncode == 0, stderr[-3000:]
    checkpoint = torch.load(next((tmp_path / "node0").rglob("last.ckpt")), weights_only=True)
    assert checkpoint["global_step"] == 3

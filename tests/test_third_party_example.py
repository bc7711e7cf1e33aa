"""The example third-party plugin under examples/: pip install, listed by genfw, trained and sampled."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "third_party_plugin"


def test_example_plugin_installs_trains_and_samples_through_genfw(tmp_path):
    site = tmp_path / "site"
    source = shutil.copytree(EXAMPLE, tmp_path / "source")  # setuptools writes build/ beside the sources
    pip = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target", str(site), str(source)],
        capture_output=True, text=True, timeout=300,
    )
    assert pip.returncode == 0, pip.stderr[-2000:]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), *filter(None, sys.path)])}

    def genfw(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "gen_framework", *args], capture_output=True, text=True,
                              env=env, timeout=300, cwd=tmp_path)

    listed = {r["name"]: r for r in json.loads(genfw("plugins", "--json").stdout)}
    assert listed["conv_gan"]["status"] == "ok"
    assert (listed["conv_gan"]["distribution"], listed["conv_gan"]["version"]) == ("gen-framework-conv-gan", "0.3.0")

    fit = genfw("fit", "--model", "conv_gan", "--data.image_size", "16", "--data.batch_size", "32",
                "--trainer.max_steps", "4", "--trainer.enable_progress_bar", "false", "--trainer.limit_val_batches", "1")
    assert fit.returncode == 0, fit.stderr[-3000:]
    assert list((tmp_path / "runs" / "conv_gan").rglob("last.ckpt")), "runs are grouped under the plugin name"
    predict = genfw("predict", "--ckpt_path", "last", "--num_samples", "4", "--output_dir", "samples",
                    "--trainer.enable_progress_bar", "false")
    assert predict.returncode == 0, predict.stderr[-3000:]
    assert len(list((tmp_path / "samples").glob("sample_*.png"))) == 4

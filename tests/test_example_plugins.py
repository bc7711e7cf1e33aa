"""The example plugins under examples/ (PixelCNN on image tokens, WGAN-GP), installed with pip as a user would:
listed by genfw, trained by ``genfw fit`` and sampled by ``genfw predict`` in a fresh process."""

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

# One process runs every genfw command (the entry point `gen_framework.cli.main`): each new process pays ~10 s of
# imports. Runs land under the working directory, the test's temporary folder.
SCRIPT = textwrap.dedent('''
    import contextlib, io, json, sys
    from pathlib import Path
    from gen_framework.cli import main

    def genfw(*args):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            try:
                code = main(list(args))
            except SystemExit as exit_:  # --print_config exits
                code = exit_.code or 0
        return code, out.getvalue()

    quiet = ["--trainer.enable_progress_bar", "false", "--trainer.limit_val_batches", "1"]
    result = {}
    result["wgan_config"] = genfw("fit", "--model", "wgan_gp", "--data.image_size", "16", "--print_config")[1]
    result["fit_pixelcnn"] = genfw("fit", "--model", "pixelcnn", "--data.image_size", "8", "--data.batch_size", "16",
                                   "--model.hidden", "8", "--model.layers", "2", "--trainer.max_steps", "3", *quiet)[0]
    result["fit_wgan_gp"] = genfw("fit", "--model", "wgan_gp", "--data.image_size", "16", "--data.batch_size", "20",
                                  "--model.width", "4", "--trainer.max_steps", "3", *quiet)[0]
    for name in ("pixelcnn", "wgan_gp"):
        checkpoint = sorted(Path("runs", name).rglob("last.ckpt"))[-1]
        result["predict_" + name] = genfw("predict", "--ckpt_path", str(checkpoint), "--num_samples", "4",
                                          "--output_dir", "samples_" + name, "--trainer.enable_progress_bar", "false")[0]
    print("RESULT" + json.dumps(result))
''')


def test_example_plugins_install_train_and_sample_through_genfw(tmp_path):
    site = tmp_path / "site"
    sources = [shutil.copytree(EXAMPLES / name, tmp_path / name, ignore=shutil.ignore_patterns("build", "*.egg-info"))
               for name in ("pixelcnn", "wgan_gp")]
    pip = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target", str(site),
         *map(str, sources)],
        capture_output=True, text=True, timeout=300,
    )
    assert pip.returncode == 0, pip.stderr[-2000:]
    # Only the installed copies: the checkout's examples/ folders (on pytest's path) must not be what is found.
    path = [p for p in sys.path if p and "examples" not in Path(p).parts]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), *path]), "OMP_NUM_THREADS": "1"}
    listed = subprocess.run([sys.executable, "-m", "gen_framework", "plugins", "--json"], capture_output=True,
                            text=True, env=env, timeout=300, cwd=tmp_path)
    records = {r["name"]: r for r in json.loads(listed.stdout)}
    assert records["pixelcnn"]["status"] == records["wgan_gp"]["status"] == "ok"
    assert records["pixelcnn"]["distribution"] == "gen-framework-pixelcnn"

    run = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=600,
                         cwd=tmp_path)
    assert run.returncode == 0 and "RESULT" in run.stdout, run.stderr[-3000:]
    result = json.loads(run.stdout.split("RESULT", 1)[1])
    # WGAN-GP changes family defaults in its signature: genfw shows (and uses) them.
    config = result.pop("wgan_config")
    for line in ("loss: wasserstein", "d_steps: 5", "fresh_real_per_d_step: true", "lr_d: 0.0001"):
        assert line in config, f"{line!r} not in genfw's config of wgan_gp"
    assert result == {"fit_pixelcnn": 0, "fit_wgan_gp": 0, "predict_pixelcnn": 0, "predict_wgan_gp": 0}, run.stderr[-3000:]
    for name in ("pixelcnn", "wgan_gp"):
        assert len(list((tmp_path / f"samples_{name}").glob("sample_*.png"))) == 4

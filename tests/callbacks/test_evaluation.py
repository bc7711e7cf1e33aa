"""The Evaluation callback: when it evaluates, what it logs, and the metrics.json it writes."""

import json
import math

import pytest
import pytorch_lightning as pl
import torch
from conftest import trainer_kwargs
from pytorch_lightning.loggers import CSVLogger
from toys.models import ToyImageGAN, ToyVAE

from gen_framework.callbacks import Evaluation
from gen_framework.data import Digits
from gen_framework.errors import ConfigError
from gen_framework.metrics.evaluation import seeded

FAST = dict(num_samples=60, sample_batch_size=30, kid_subsets=10, feature_steps=40)
PROTOCOL = {"value", "higher_is_better", "method", "feature_network", "num_real", "num_generated", "resize", "seed",
            "checkpoint", "details"}


@pytest.fixture(autouse=True)
def _private_cache_one_thread(tmp_path_factory, monkeypatch):
    """Feature networks cached in the test session's folder; one intra-op thread (tiny tensors, shared cores)."""
    monkeypatch.setenv("GEN_FRAMEWORK_CACHE", str(tmp_path_factory.getbasetemp() / "gen_framework_cache"))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def digits():
    return Digits(image_size=8, batch_size=32)


def trainer(tmp_path, callback, **overrides):
    return pl.Trainer(**trainer_kwargs(default_root_dir=str(tmp_path), callbacks=[callback], **overrides))


@pytest.mark.filterwarnings("ignore:Be aware that when using `ckpt_path`")
def test_test_run_logs_and_writes_every_metric_with_its_protocol(digits, tmp_path, capsys):
    pl.seed_everything(0)
    model = ToyImageGAN()
    fit = trainer(tmp_path, Evaluation(**FAST), max_steps=4, limit_val_batches=0, enable_checkpointing=True)
    fit.fit(model, datamodule=digits)
    checkpoint = fit.checkpoint_callback.best_model_path
    callback = Evaluation(**FAST)
    results = trainer(tmp_path, callback).test(model, datamodule=digits, ckpt_path=checkpoint, verbose=False)[0]

    path = tmp_path / "metrics.json"
    assert f"genfw: metrics written to {path}" in capsys.readouterr().out
    section = json.loads(path.read_text())["test"]
    names = {"fid", "kid", "kid_std", "precision", "recall", "classifier_confidence", "class_coverage"}
    assert set(section["metrics"]) == names
    assert {f"test/{name}" for name in names} <= set(results)
    for name, record in section["metrics"].items():
        assert set(record) == PROTOCOL
        assert record["value"] == pytest.approx(results[f"test/{name}"], rel=1e-6)
        assert record["checkpoint"] == checkpoint and record["seed"] == 0
        assert record["num_real"] == 60 and record["num_generated"] == 60
        assert record["feature_network"]["name"] == "trained-classifier"
        assert len(record["feature_network"]["weights_sha256"]) == 64
        assert record["resize"] == "none: native 8x8, 8-bit quantised"
    assert section["checkpoint"] == checkpoint and section["global_step"] == 4 and section["world_size"] == 1
    assert section["model"] == {"class_path": "toys.models.ToyImageGAN", "family": "adversarial", "modality": "image"}
    assert section["data"]["data_spec"] == {"modality": "image", "channels": 1, "image_size": 8}
    assert callback.last_path == path and callback.last_records["fid"].value == section["metrics"]["fid"]["value"]


def test_vae_gets_reconstruction_and_seeded_iwae_metrics(digits, tmp_path):
    pl.seed_everything(0)
    model = ToyVAE(likelihood="gaussian")
    callback = Evaluation(iwae_samples=4, **FAST)
    trainer(tmp_path, callback).test(model, datamodule=digits, verbose=False)
    records = callback.last_records
    assert {"psnr", "ssim", "iwae_nll", "iwae_bits_per_dim", "fid"} <= set(records)
    # the same images, and the same seeds per batch, give the same bound
    nll = []
    for index, (x, _) in zip(range(2), digits.test_dataloader()):  # 32 + 28 of the 60 images
        x = x[: 60 - 32 * index]
        with seeded(index, torch.device("cpu")), torch.no_grad():
            nll.append(model.iwae_nll(x, 4))
    expected = torch.cat(nll)
    assert len(expected) == records["iwae_nll"].num_real == 60
    assert records["iwae_nll"].value == pytest.approx(float(expected.mean()), rel=1e-5)
    assert records["iwae_bits_per_dim"].value == pytest.approx(float(expected.mean()) / (64 * math.log(2)), rel=1e-5)
    assert records["iwae_nll"].details["likelihood"] == "gaussian" and records["psnr"].feature_network is None


class Spy(Evaluation):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.steps = []

    def run(self, trainer, pl_module, stage, **kwargs):
        self.steps.append((stage, trainer.global_step))
        return super().run(trainer, pl_module, stage, **kwargs)


# The final weights are evaluated at the end of fit when the last validation did not (every_n_steps=8).
@pytest.mark.parametrize("every_n_steps, expected", [(8, [8, 12]), (4, [4, 8, 12]), (None, [])])
def test_fit_evaluates_only_when_the_interval_is_due(digits, tmp_path, every_n_steps, expected):
    # A GAN step is two optimiser steps: validations at global steps 4, 8 and 12, after the sanity check.
    callback = Spy(every_n_steps=every_n_steps, **FAST)
    fit = trainer(tmp_path, callback, max_steps=12, val_check_interval=2, limit_val_batches=1, num_sanity_val_steps=1)
    fit.fit(ToyImageGAN(), datamodule=digits)
    assert callback.steps == [("val", step) for step in expected]
    if expected:
        section = json.loads((tmp_path / "metrics.json").read_text())["val"]
        assert section["global_step"] == expected[-1] and section["checkpoint"] is None


def test_fit_ends_with_one_summary_line_and_a_sample_grid(digits, tmp_path, capsys):
    logger = CSVLogger(save_dir=str(tmp_path / "logs"), name="run")
    callback = Evaluation(every_n_steps=100, **FAST)
    fit = trainer(tmp_path, callback, logger=logger, max_steps=6, limit_val_batches=1, num_sanity_val_steps=0)
    fit.fit(ToyImageGAN(), datamodule=digits)
    out = capsys.readouterr().out
    run_dir = tmp_path / "logs" / "run" / "version_0"
    # Never validated at a multiple of 100: evaluated once, at the end, and logged to the logger.
    assert json.loads((run_dir / "metrics.json").read_text())["val"]["global_step"] == fit.global_step
    assert "val/fid" in (run_dir / "metrics.csv").read_text()
    summary = [line for line in out.splitlines() if line.startswith("genfw: quality at step")]
    assert len(summary) == 1, out
    fid = callback.last_records["fid"].value
    assert f"fid {fid:.4g} ↓" in summary[0] and "precision" in summary[0] and "kid_std" not in summary[0]
    assert summary[0].endswith(f"details in {run_dir / 'metrics.json'}")
    assert f"written to {run_dir / 'samples.png'}" in out and (run_dir / "samples.png").stat().st_size > 0


def test_no_summary_without_an_interval(digits, tmp_path, capsys):
    trainer(tmp_path, Evaluation(**FAST), max_steps=4, limit_val_batches=1).fit(ToyImageGAN(), datamodule=digits)
    assert "genfw: quality" not in capsys.readouterr().out and not (tmp_path / "samples.png").exists()


def test_validate_writes_a_val_section_next_to_the_test_section(digits, tmp_path):
    model = ToyImageGAN()
    val = trainer(tmp_path, Evaluation(**FAST)).validate(model, datamodule=digits, verbose=False)[0]
    trainer(tmp_path, Evaluation(**FAST)).test(model, datamodule=digits, verbose=False)
    document = json.loads((tmp_path / "metrics.json").read_text())
    assert {"val", "test"} <= set(document)
    assert document["val"]["metrics"]["fid"]["value"] == pytest.approx(val["val/fid"], rel=1e-6)
    assert document["val"]["metrics"]["fid"]["details"]["split"] == "val"


def test_the_seed_fixes_the_values(digits, tmp_path):
    model = ToyImageGAN()

    def fid(seed):
        callback = Evaluation(seed=seed, **FAST)
        trainer(tmp_path, callback).test(model, datamodule=digits, verbose=False)
        return callback.last_records["fid"].value

    assert fid(0) == fid(0) != fid(1)


def test_metrics_go_to_the_logger_directory(digits, tmp_path):
    logger = CSVLogger(save_dir=str(tmp_path / "logs"), name="run")
    callback = Evaluation(**FAST)
    trainer(tmp_path, callback, logger=logger).test(ToyImageGAN(), datamodule=digits, verbose=False)
    assert callback.last_path == tmp_path / "logs" / "run" / "version_0" / "metrics.json"
    assert callback.last_path.is_file()


def test_a_datamodule_is_required(tmp_path):
    loader = torch.utils.data.DataLoader(torch.zeros(4, 1, 8, 8), batch_size=2)
    with pytest.raises(ConfigError, match="needs a datamodule"):
        trainer(tmp_path, Evaluation(**FAST)).test(ToyImageGAN(), dataloaders=loader, verbose=False)


@pytest.mark.parametrize("kwargs, name", [
    ({"every_n_steps": 0}, "every_n_steps"),
    ({"num_samples": 1}, "num_samples"),
    ({"iwae_samples": -1}, "iwae_samples"),
    ({"seed": 1.5}, "seed"),
    ({"max_batches": 0}, "max_batches"),
    ({"audio_seconds": 0}, "audio_seconds"),
    ({"audio_seconds": float("inf")}, "audio_seconds"),
    ({"feature_network": "vgg"}, "feature_network"),
    ({"filename": "sub/metrics.json"}, "filename"),
])
def test_bad_arguments_name_the_argument(kwargs, name):
    with pytest.raises(ConfigError, match=f"`{name}`"):
        Evaluation(**kwargs)

"""How many samples `genfw test` draws: the model may declare a smaller default (slow samplers), a long draw
announces its duration."""

import pytest
import pytorch_lightning as pl
import torch
from conftest import trainer_kwargs
from toys.models import ToyImageGAN

import gen_framework.metrics.evaluation as evaluation
from gen_framework.callbacks import Evaluation
from gen_framework.callbacks.evaluation import DEFAULT_NUM_SAMPLES, evaluation_num_samples
from gen_framework.data import Digits
from gen_framework.metrics.evaluation import EvaluationSettings, Shard, generated_chunks

FAST = dict(sample_batch_size=30, kid_subsets=10, feature_steps=40)


class SlowSamplerGAN(ToyImageGAN):
    evaluation_num_samples = 40


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("GEN_FRAMEWORK_CACHE", str(tmp_path_factory.getbasetemp() / "gen_framework_cache"))


@pytest.mark.parametrize(("given", "expected"), [(None, 40), (50, 50)])
def test_the_models_declared_count_is_the_default_and_the_option_overrides_it(tmp_path, given, expected):
    pl.seed_everything(0)
    callback = Evaluation(num_samples=given, **FAST)
    trainer = pl.Trainer(**trainer_kwargs(default_root_dir=str(tmp_path), callbacks=[callback]))
    trainer.test(SlowSamplerGAN(), datamodule=Digits(image_size=8, batch_size=32), verbose=False)
    assert callback.last_records["fid"].num_generated == expected


def test_models_that_declare_nothing_get_the_default():
    assert evaluation_num_samples(ToyImageGAN()) == DEFAULT_NUM_SAMPLES == 1000
    assert evaluation_num_samples(SlowSamplerGAN()) == 40


class _Sampler(torch.nn.Module):
    def sample(self, count, seed, **options):
        return torch.zeros(count, 1, 8, 8)


def test_a_long_draw_prints_its_estimate_after_the_first_chunk(monkeypatch, capsys):
    clock = iter(range(0, 1000, 10))  # every sample() call "takes" 10 s
    monkeypatch.setattr(evaluation.time, "perf_counter", lambda: next(clock))
    settings = EvaluationSettings(num_samples=100, sample_batch_size=10)
    chunks = list(generated_chunks(_Sampler(), 100, settings, Shard()))
    assert len(chunks) == 10
    out = capsys.readouterr().out
    assert out.count("genfw: evaluation draws 100 samples") == 1
    assert "the first 10 took 10 s, about 1.5 min more" in out


def test_a_short_draw_prints_nothing(capsys):
    list(generated_chunks(_Sampler(), 20, EvaluationSettings(num_samples=20, sample_batch_size=10), Shard()))
    assert capsys.readouterr().out == ""

"""WaveNet-lite: causality, receptive field, fast generation against recomputation, saving, the genfw CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from gen_framework.cli import main
from gen_framework.data import mu_law_encode
from gen_framework.errors import ConfigError
from gen_framework.families import AutoregressiveModule
from gen_framework.registry import registry
from gen_framework_wavenet_lite import PLUGIN, WaveNetLite

REPO = Path(__file__).resolve().parents[3]
TINY = dict(residual_channels=8, dilation_channels=6, skip_channels=10, layers_per_stack=3, stacks=2)
AUDIO_SPEC = {"modality": "audio", "sample_rate": 8000, "quantization": {"kind": "mu_law", "levels": 256}}


def tiny(**overrides) -> WaveNetLite:
    torch.manual_seed(0)
    model = WaveNetLite(vocab_size=256, **{**TINY, **overrides})
    # non-zero biases and larger weights, so that a wrong tap or a missed bias shows in the outputs
    with torch.no_grad():
        for param in model.parameters():
            param.add_(torch.randn_like(param) * 0.3)
        model.input_conv.weight[-1] = 0.0  # the "no code" row, as the embedding's padding_idx keeps it
    return model.eval()


def test_plugin_is_registered_with_the_audio_contract():
    assert registry.get("wavenet_lite").module_class is WaveNetLite
    assert PLUGIN.family == "autoregressive" and issubclass(WaveNetLite, AutoregressiveModule)
    assert WaveNetLite.modality == "audio" and WaveNetLite.output_range == (-1.0, 1.0)
    assert WaveNetLite.cache_slides is True


@pytest.mark.parametrize(
    ("layers_per_stack", "stacks", "input_kernel_size", "expected"),
    [(3, 2, 2, 1 + 2 * 7 + 1), (10, 1, 2, 1025), (4, 3, 1, 3 * 15 + 1), (2, 1, 5, 4 + 3 + 1)],
)
def test_receptive_field_formula_and_milliseconds(layers_per_stack, stacks, input_kernel_size, expected):
    model = tiny(layers_per_stack=layers_per_stack, stacks=stacks, input_kernel_size=input_kernel_size)
    assert model.receptive_field == model.context_size == expected
    assert model.dilations == [2**i for i in range(layers_per_stack)] * stacks
    assert model.receptive_field_ms == pytest.approx(1000 * expected / 16000)
    model.adopt_data_spec(AUDIO_SPEC)
    assert model.receptive_field_ms == pytest.approx(1000 * expected / 8000)


@pytest.mark.parametrize("input_kernel_size", [1, 2, 3])
def test_output_depends_exactly_on_the_receptive_field(input_kernel_size):
    """Changing the code at position p changes the logits at p .. p + R - 1 and nowhere else."""
    model = tiny(input_kernel_size=input_kernel_size)
    R = model.receptive_field
    tokens = torch.randint(0, 256, (2, 3 * R))
    with torch.no_grad():
        base = model(tokens)
        assert base.shape == (2, 3 * R, 256)
        p = R + 3
        changed = tokens.clone()
        changed[:, p] = (changed[:, p] + 101) % 256
        moved = (model(changed) - base).abs().amax(dim=(0, 2)) > 1e-6
    assert moved.nonzero().flatten().tolist() == list(range(p, p + R))


def test_cached_chunks_match_the_full_forward():
    """Single codes, prompts and chunks longer than a queue, with the queues wrapped around in between."""
    model = tiny()
    tokens = torch.randint(0, 256, (3, 4 * model.receptive_field + 7))
    with torch.no_grad():
        full = model(tokens)
        cache = model.init_cache(3)
        pieces, start = [], 0
        for size in [1, 5, 1, 1, 1, 40, 1, 2, 3, *[1] * 20]:
            pieces.append(model.forward_cached(tokens[:, start : start + size], cache))
            start += size
        pieces.append(model.forward_cached(tokens[:, start:], cache))
    torch.testing.assert_close(torch.cat(pieces, dim=1), full, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("num_labels", [0, 3])
def test_fast_generation_gives_the_same_samples_as_recomputation(num_labels):
    model = tiny(num_labels=num_labels)
    condition = torch.tensor([0, 2, 1, 2]) if num_labels else None
    prompt = torch.tensor([[128], [128], [3], [250]])
    steps = 3 * model.receptive_field  # well past the point where the window starts sliding
    fast = model.generate(prompt, steps, seed=7, use_cache=True, condition=condition)
    slow = model.generate(prompt, steps, seed=7, use_cache=False, condition=condition)
    assert fast.shape == (4, steps + 1)
    assert torch.equal(fast, slow)
    assert len(fast.unique()) > 20  # a real draw, not a constant sequence
    longer = model.generate(torch.randint(0, 256, (4, 2 * model.receptive_field)), 30, seed=1, condition=condition)
    assert torch.equal(
        longer,
        model.generate(longer[:, : 2 * model.receptive_field], 30, seed=1, use_cache=False, condition=condition),
    )


def test_conditioning_changes_the_output_and_labels_are_checked():
    model = tiny(num_labels=3)
    tokens = torch.randint(0, 256, (2, 20))
    with torch.no_grad():
        a = model(tokens, condition=torch.tensor([0, 0]))
        b = model(tokens, condition=torch.tensor([1, 1]))
    assert (a - b).abs().max() > 1e-3
    with pytest.raises(ConfigError, match="num_labels=3"):
        model(tokens)
    with pytest.raises(ConfigError, match=r"labels must be in \[0, 3\)"):
        model(tokens, condition=torch.tensor([0, 3]))
    with pytest.raises(ConfigError, match="num_labels=0"):
        tiny()(tokens, condition=torch.tensor([0, 1]))


def test_data_labels_must_match_num_labels():
    with pytest.raises(ConfigError, match="num_labels: 4"):
        tiny().adopt_data_spec({**AUDIO_SPEC, "num_labels": 4})
    with pytest.raises(ConfigError, match="provides no labels"):
        tiny(num_labels=2).adopt_data_spec(AUDIO_SPEC)
    model = WaveNetLite(**TINY, num_labels=4)
    model.adopt_data_spec({**AUDIO_SPEC, "num_labels": 4})
    assert model.vocab_size == 256


@pytest.mark.parametrize(
    ("option", "value"),
    [("layers_per_stack", 0), ("layers_per_stack", 17), ("residual_channels", 0), ("num_labels", -1), ("stacks", 1.5)],
)
def test_bad_options_are_config_errors_naming_the_option(option, value):
    with pytest.raises(ConfigError, match=option):
        WaveNetLite(**{**TINY, option: value})


def test_sample_returns_audio_of_the_requested_duration_starting_from_silence():
    model = tiny()
    model.adopt_data_spec(AUDIO_SPEC)
    assert model.default_prompt() == [int(mu_law_encode(torch.zeros(1)))] == [128]
    audio = model.sample(3, seed=0, seconds=0.01, temperature=0.9)
    assert audio.shape == (3, 80) and audio.dtype == torch.float32
    assert audio.abs().max() <= 1.0 and audio[:, 0].abs().max() < 1e-3
    assert torch.equal(audio, model.sample(3, seed=0, seconds=0.01, temperature=0.9))
    assert torch.equal(audio, model.sample(3, seed=0, seconds=0.01, temperature=0.9, use_cache=False))
    assert not torch.equal(audio, model.sample(3, seed=1, seconds=0.01, temperature=0.9))
    greedy = model.sample(2, seed=0, seconds=0.005, temperature=0.0)
    assert torch.equal(greedy[0], greedy[1])
    with pytest.raises(ConfigError, match="seconds"):
        model.sample(1, seconds=0.0)
    with pytest.raises(ConfigError, match="label"):
        model.sample(1, seconds=0.01, label=1)


def test_conditional_sampling_uses_the_label():
    model = tiny(num_labels=2)
    a = model.sample(2, seed=0, seconds=0.005, temperature=0.0, label=0)
    b = model.sample(2, seed=0, seconds=0.005, temperature=0.0, label=1)
    mixed = model.sample(2, seed=0, seconds=0.005, temperature=0.0)  # labels 0, 1
    assert torch.equal(mixed[0], a[0]) and torch.equal(mixed[1], b[1]) and not torch.equal(a, b)
    with pytest.raises(ConfigError, match=r"label must be in \[0, 2\)"):
        model.sample(1, seconds=0.01, label=2)


def test_training_step_learns_on_a_batch_of_codes():
    """A few optimiser steps on one batch lower the loss: gradients reach every parameter."""
    torch.manual_seed(0)
    model = WaveNetLite(**TINY, num_labels=2)
    model.adopt_data_spec({**AUDIO_SPEC, "num_labels": 2})
    tokens = mu_law_encode(torch.sin(torch.arange(4 * 65).reshape(4, 65) * 0.3) * 0.8)
    batch = (tokens, torch.tensor([0, 1, 0, 1]))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(20):
        optimizer.zero_grad()
        loss = model._next_token_loss(batch)
        loss.backward()
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters() if p.requires_grad)
        optimizer.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.75 * losses[0]


@pytest.mark.parametrize("num_labels", [0, 2])
def test_ema_averages_every_weight_and_is_used_for_sampling(num_labels):
    model = tiny(num_labels=num_labels, ema_decay=0.5)
    model._build_ema()
    averaged = {id(p) for name in model.ema_module_names() for p in getattr(model, name).parameters()}
    assert averaged == {id(p) for name, p in model.named_parameters() if not name.startswith("ema.")}
    label = 1 if num_labels else None
    before = model.sample(1, seed=0, seconds=0.004, temperature=0.0, label=label)
    model.update_ema()  # the average now holds the current weights
    with torch.no_grad():
        for param in model.head.parameters():
            param.mul_(-1.0)
    assert torch.equal(model.sample(1, seed=0, seconds=0.004, temperature=0.0, label=label), before)


def test_save_pretrained_round_trip(tmp_path):
    model = tiny(num_labels=2)
    model.adopt_data_spec({**AUDIO_SPEC, "num_labels": 2})
    model.save_pretrained(tmp_path / "pretrained")
    loaded = WaveNetLite.from_pretrained(tmp_path / "pretrained")
    assert type(loaded) is WaveNetLite and loaded.receptive_field == model.receptive_field
    assert loaded.sample_rate == 8000 and loaded.num_labels == 2
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    assert torch.equal(loaded.sample(2, seed=3, seconds=0.01), model.sample(2, seed=3, seconds=0.01))


def test_genfw_fit_then_predict_writes_wav_files_of_the_requested_duration(tmp_path, capsys):
    tiny_model = [f"--model.init_args.{k}={v}" for k, v in TINY.items()]
    tiny_data = [
        "--data.init_args.num_clips=4", "--data.init_args.clip_seconds=0.25", "--data.init_args.segment_length=128",
        "--data.init_args.batch_size=2", "--data.init_args.val_fraction=0.25",
    ]
    code = main([
        "fit", "--config", str(REPO / "configs/wavenet_lite/melodies.yaml"), *tiny_model, *tiny_data,
        "--trainer.max_steps=3", "--trainer.limit_val_batches=1", "--trainer.logger=false",
        "--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false",
        f"--trainer.default_root_dir={tmp_path}", f"--checkpoint.dirpath={tmp_path / 'ckpt'}",
    ])
    assert code == 0
    ckpt = tmp_path / "ckpt" / "last.ckpt"
    assert ckpt.is_file()
    out = tmp_path / "samples"
    code = main([
        "predict", "--ckpt_path", str(ckpt), "--num_samples", "3", "--batch_size", "2", "--output_dir", str(out),
        "--sampling.seconds", "0.05", "--sampling.temperature", "0.9", "--trainer.enable_progress_bar=false",
        f"--trainer.default_root_dir={tmp_path}",
    ])
    assert code == 0, capsys.readouterr().err
    wavs = sorted(out.glob("sample_*.wav"))
    assert len(wavs) == 3
    for path in wavs:
        audio, rate = soundfile.read(path)
        assert rate == 16000 and audio.shape == (800,) and np.abs(audio).max() <= 1.0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["sampling_options"]["seconds"] == 0.05 and manifest["sampling_options"]["temperature"] == 0.9
    assert manifest["modality"] == "audio" and manifest["count"] == 3


def test_genfw_fit_on_a_labelled_wav_folder_trains_a_conditional_model(tmp_path, capsys):
    root = tmp_path / "audio"
    t = np.arange(4000) / 8000
    for label, hz in (("flute", 440.0), ("organ", 262.0)):
        (root / label).mkdir(parents=True)
        for i in range(2):
            soundfile.write(root / label / f"{i}.wav", 0.5 * np.sin(2 * np.pi * hz * (i + 1) * t), 8000)
    common = [
        "fit", "--config", str(REPO / "configs/wavenet_lite/wav_folder.yaml"),
        *[f"--model.init_args.{k}={v}" for k, v in TINY.items()],
        f"--data.init_args.root={root}", "--data.init_args.segment_length=128", "--data.init_args.batch_size=2",
        "--data.init_args.split=time", "--trainer.max_steps=2", "--trainer.limit_val_batches=1",
        "--trainer.val_check_interval=2", "--trainer.logger=false", "--trainer.enable_progress_bar=false",
        "--trainer.enable_model_summary=false", f"--trainer.default_root_dir={tmp_path}",
        f"--checkpoint.dirpath={tmp_path / 'ckpt'}",
    ]
    assert main(common) == 2  # the config's num_labels: 0 does not fit two labelled subfolders
    assert "set model.init_args.num_labels: 2" in capsys.readouterr().err
    assert main([*common, "--model.init_args.num_labels=2"]) == 0
    model = WaveNetLite.load_from_checkpoint(tmp_path / "ckpt" / "last.ckpt")
    assert model.num_labels == 2 and model.data_spec["num_labels"] == 2
    out = tmp_path / "samples"
    code = main([
        "predict", "--ckpt_path", str(tmp_path / "ckpt" / "last.ckpt"), "--num_samples", "2", "--output_dir", str(out),
        "--sampling.seconds", "0.1", "--sampling.label", "1", "--trainer.enable_progress_bar=false",
        f"--trainer.default_root_dir={tmp_path}",
    ])
    assert code == 0
    audio, rate = soundfile.read(sorted(out.glob("sample_*.wav"))[0])
    assert rate == 16000 and audio.shape == (1600,)

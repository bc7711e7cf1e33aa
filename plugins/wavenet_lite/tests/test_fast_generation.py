"""The scripted real-time loop draws exactly the codes of the recompute path for the same seed."""

from __future__ import annotations

import pytest
import torch

from gen_framework_wavenet_lite import WaveNetLite
from gen_framework_wavenet_lite.fast_generation import fast_generate

TINY = dict(residual_channels=8, dilation_channels=6, skip_channels=10, layers_per_stack=3, stacks=2)
MELODIES = dict(residual_channels=32, dilation_channels=32, skip_channels=64, layers_per_stack=10)  # melodies.yaml


def model_of(scale: float = 0.3, **init_args) -> WaveNetLite:
    torch.manual_seed(0)
    model = WaveNetLite(vocab_size=256, **init_args)
    # non-zero biases and larger weights, so that a wrong tap, slot or bias shows in the codes
    with torch.no_grad():
        for param in model.parameters():
            param.add_(torch.randn_like(param) * scale)
        model.input_conv.weight[-1] = 0.0  # the "no code" row stays zero, as padding_idx keeps it
    return model.eval()


def both(model: WaveNetLite, prompt: torch.Tensor, steps: int, seed: int, script: bool, **options):
    fast = fast_generate(model, prompt, steps, generator=torch.Generator().manual_seed(seed), script=script, **options)
    slow = model.generate(prompt, steps, seed=seed, use_cache=False, **options)
    return fast, slow


@pytest.mark.parametrize("script", [True, False], ids=["scripted", "eager"])
@pytest.mark.parametrize("temperature", [1.0, 0.8, 0.0])
@pytest.mark.parametrize(
    "init_args", [{}, {"input_kernel_size": 3}, {"num_labels": 3}], ids=["plain", "3-tap input", "conditional"]
)
def test_tiny_model_draws_the_codes_of_recomputation(init_args, temperature, script):
    model = model_of(**TINY, **init_args)
    condition = torch.tensor([0, 2, 1]) if init_args.get("num_labels") else None
    prompt = torch.tensor([[128, 128], [3, 7], [250, 0]])
    steps = 3 * model.receptive_field  # well past the point where every ring has wrapped
    fast, slow = both(model, prompt, steps, 7, script, temperature=temperature, condition=condition)
    assert fast.shape == (3, steps + 2)
    assert torch.equal(fast, slow)
    if temperature:
        assert len(fast.unique()) > 20  # a real draw, not a constant sequence


def test_melodies_model_at_batch_1_draws_the_codes_of_recomputation():
    model = model_of(scale=0.05, **MELODIES)
    # from silence: the rings fill from zeros; after a full window of prompt: every recomputed step sees the
    # whole receptive field, and the prompt's codes pass through the loop's rings
    fast, slow = both(model, torch.tensor([[128]]), 200, 3, True)
    assert torch.equal(fast, slow) and len(fast.unique()) > 20
    window = torch.randint(0, 256, (1, model.receptive_field + 5), generator=torch.Generator().manual_seed(1))
    fast, slow = both(model, window, 60, 5, True, temperature=0.9)
    assert torch.equal(fast, slow)


def test_sample_uses_the_fast_loop_and_keeps_the_seeded_result():
    model = model_of(**TINY)
    calls = []
    import gen_framework_wavenet_lite.fast_generation as module

    original = module.fast_generate

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    module.fast_generate = counting
    try:
        audio = model.sample(2, seed=4, seconds=0.01, temperature=0.9)
    finally:
        module.fast_generate = original
    assert calls and torch.equal(audio, model.sample(2, seed=4, seconds=0.01, temperature=0.9, use_cache=False))
    # top-k goes through the family's loop, with the same result as recomputation
    assert torch.equal(
        model.sample(2, seed=4, seconds=0.01, top_k=5), model.sample(2, seed=4, seconds=0.01, top_k=5, use_cache=False)
    )


def test_without_torchscript_the_loop_runs_eagerly_with_a_note(monkeypatch):
    import gen_framework_wavenet_lite.fast_generation as module

    def unavailable(fn):
        raise RuntimeError("no TorchScript here")

    monkeypatch.setattr(module, "_compiled", {})
    monkeypatch.setattr(torch.jit, "script", unavailable)
    model = model_of(**TINY)
    with pytest.warns(UserWarning, match="runs eagerly.*no TorchScript here"):
        fast, slow = both(model, torch.tensor([[128]]), 40, 2, True)
    assert torch.equal(fast, slow)

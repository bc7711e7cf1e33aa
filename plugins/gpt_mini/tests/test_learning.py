"""Learning runs: GPT-mini learns a deterministic sequence exactly and beats the unigram model on pydocs."""

import math

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from gen_framework.data import PyDocs
from gen_framework_gpt_mini import GPTMini

def quiet_trainer(**overrides) -> pl.Trainer:
    kwargs = dict(
        accelerator="cpu", devices=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False,
    )
    kwargs.update(overrides)
    return pl.Trainer(**kwargs)


@pytest.fixture
def one_thread():
    """Tiny models run as fast on one thread, and a shared machine cannot stall a second one."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def validation_loss(model: GPTMini, data: PyDocs, max_batches: int | None = None) -> float:
    """Mean next-token cross-entropy (nats per token) over the validation windows."""
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for i, batch in enumerate(data.val_dataloader()):
            if max_batches is not None and i >= max_batches:
                break
            logits = model(batch[:, :-1])
            total += F.cross_entropy(logits.flatten(0, 1), batch[:, 1:].flatten(), reduction="sum").item()
            count += batch[:, 1:].numel()
    return total / count


def unigram_entropy(data: PyDocs) -> float:
    """Entropy (nats per token) of the training split's token frequencies: the best context-free model."""
    counts = np.bincount(data.train_dataloader().dataset.tokens.numpy(), minlength=data.tokenizer.vocab_size)
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum())


@pytest.mark.learning
def test_learns_a_deterministic_sequence_and_continues_it_past_the_block(one_thread):
    pl.seed_everything(0)
    period, block_size, vocab = 13, 16, 10
    generator = torch.Generator().manual_seed(0)
    pattern = torch.randint(0, vocab, (period,), generator=generator)
    stream = pattern.repeat(40)
    windows = torch.stack([stream[i : i + block_size + 1] for i in range(len(stream) - block_size)])
    model = GPTMini(n_layer=2, n_head=2, n_embd=32, block_size=block_size, vocab_size=vocab, lr=3e-3,
                    min_lr=3e-4, warmup_steps=20, lr_decay_steps=300, weight_decay=0.0)
    quiet_trainer(max_steps=300).fit(model, DataLoader(windows, batch_size=32, shuffle=True))
    # every 3 consecutive tokens of the cycle are unique, so from the third position on the next token is certain
    trigrams = {tuple(pattern.roll(-i)[:3].tolist()) for i in range(period)}
    assert len(trigrams) == period
    model.eval()
    with torch.no_grad():
        logits = model(windows[:, :-1])
    losses = F.cross_entropy(logits.transpose(1, 2), windows[:, 1:], reduction="none").mean(dim=0)  # (T,)
    assert losses[2:].max().item() < 0.01
    # a prompt of one period, continued greedily for 60 tokens: the window jumps several times on the way
    prompt = stream[None, :period]
    for use_cache in (True, False):
        out = model.generate(prompt, 60, temperature=0.0, use_cache=use_cache)
        assert torch.equal(out[0], stream[: period + 60])


@pytest.mark.learning
def test_learns_pydocs_below_the_unigram_entropy():
    pl.seed_everything(0)
    data = PyDocs(block_size=64, batch_size=16, tokenizer="char", seed=0)
    data.setup("fit")
    entropy = unigram_entropy(data)
    model = GPTMini(n_layer=2, n_head=4, n_embd=64, block_size=64, lr=3e-3, min_lr=3e-4, warmup_steps=50,
                    lr_decay_steps=500)
    trainer = quiet_trainer(max_steps=500, limit_val_batches=0)
    trainer.fit(model, datamodule=data)
    loss = validation_loss(model, data, max_batches=200)
    assert entropy > 3.0  # English characters: a context-free model needs > 3 nats per character
    assert loss < 2.5 < entropy, (loss, entropy)
    sample = model.sample(2, seed=0, prompt="The ", max_new_tokens=100, temperature=0.8)
    text = model.tokenizer.decode(sample[0].tolist())
    assert text.startswith("The ") and len(text) == 104
    assert math.isfinite(loss)


@pytest.mark.slow
def test_compiled_training_matches_eager(tmp_path, monkeypatch, one_thread):
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "inductor"))
    windows = torch.randint(0, 7, (64, 9), generator=torch.Generator().manual_seed(0))
    losses = {}
    for compile_ in (False, True):
        pl.seed_everything(0)
        model = GPTMini(n_layer=1, n_head=2, n_embd=16, block_size=8, vocab_size=7, compile=compile_)
        quiet_trainer(max_steps=5).fit(model, DataLoader(windows, batch_size=16))
        model.eval()
        with torch.no_grad():
            losses[compile_] = model._next_token_loss(windows).item()
    assert losses[True] == pytest.approx(losses[False], rel=1e-3)

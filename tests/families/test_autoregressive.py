import pytorch_lightning as pl
import pytest
import torch
from conftest import trainer_kwargs
from torch.utils.data import DataLoader
from toys.models import ToyLM

from gen_framework.errors import ConfigError
from gen_framework.families.autoregressive import parameter_groups, sample_next_token


def cyclic_windows(period: int = 8, length: int = 17, count: int = 200) -> torch.Tensor:
    seq = torch.arange(count + length) % period
    return torch.stack([seq[i : i + length] for i in range(count)])


def test_learns_a_deterministic_sequence_and_continues_it():
    pl.seed_everything(0)
    model = ToyLM(vocab_size=8, lr=1e-2, weight_decay=0.0)
    windows = cyclic_windows()
    trainer = pl.Trainer(max_steps=200, **trainer_kwargs())
    trainer.fit(model, DataLoader(windows, batch_size=32, shuffle=True))
    model.eval()
    with torch.no_grad():
        assert model._next_token_loss(windows[:64]).item() < 0.01
    out = model.generate(torch.tensor([[3]]), 12, temperature=0.0)
    assert out[0].tolist() == [(3 + i) % 8 for i in range(13)]


@pytest.mark.parametrize("options", [{}, {"temperature": 1.5, "top_k": 5}, {"temperature": 2.0, "top_p": 0.9}])
def test_cached_and_recomputed_generation_give_identical_tokens(options):
    torch.manual_seed(0)
    model = ToyLM(vocab_size=11, context=4)
    prompt = torch.randint(0, 11, (3, 2))
    cached = model.generate(prompt, 30, use_cache=True, seed=7, **options)
    recomputed = model.generate(prompt, 30, use_cache=False, seed=7, **options)
    assert torch.equal(cached, recomputed)
    assert cached.shape == (3, 32)


def test_top_k_and_top_p_restrict_the_support():
    generator = torch.Generator().manual_seed(0)
    logits = torch.tensor([[4.0, 3.0, 0.0, -1.0]]).repeat(500, 1)
    drawn = sample_next_token(logits, 1.0, 2, None, generator)
    assert set(drawn.flatten().tolist()) <= {0, 1}
    drawn = sample_next_token(logits, 1.0, None, 0.5, generator)
    assert set(drawn.flatten().tolist()) == {0}
    assert sample_next_token(logits[:1], 0.0, None, None, generator).item() == 0


def test_draws_follow_the_softmax_probabilities():
    generator = torch.Generator().manual_seed(0)
    probabilities = torch.tensor([0.5, 0.3, 0.0, 0.15, 0.05])
    logits = probabilities.log().repeat(40000, 1)  # log 0 = -inf: a token that must never be drawn
    counts = torch.bincount(sample_next_token(logits, 1.0, None, None, generator).flatten(), minlength=5)
    assert counts[2] == 0
    # binomial standard deviation at n = 40000 is at most 0.0025
    torch.testing.assert_close(counts / counts.sum(), probabilities, atol=0.01, rtol=0)
    hot = sample_next_token(probabilities.log().repeat(40000, 1), 0.5, None, None, generator).flatten()
    sharpened = probabilities**2 / (probabilities**2).sum()  # temperature 0.5 squares the probabilities
    torch.testing.assert_close(torch.bincount(hot, minlength=5) / 40000, sharpened, atol=0.01, rtol=0)


def test_adamw_is_fused_on_cpu_and_keeps_the_decay_groups():
    model = ToyLM(vocab_size=11, context=4)
    optimizer = model.configure_optimizers()["optimizer"]
    assert optimizer.defaults["fused"] is True
    assert [group["weight_decay"] for group in optimizer.param_groups] == [model.weight_decay, 0.0]


def test_mismatched_vocab_is_refused():
    class AudioLM(ToyLM):
        modality = "audio"

    model = AudioLM(vocab_size=8)
    with pytest.raises(ConfigError, match="vocab_size"):
        model.adopt_data_spec({"modality": "audio", "quantization": {"kind": "mu_law", "levels": 256}})
    fresh = AudioLM()
    fresh.adopt_data_spec({"modality": "audio", "quantization": {"kind": "mu_law", "levels": 256}})
    assert fresh.vocab_size == 256 and fresh.hparams["vocab_size"] == 256 and fresh._network_built


def test_weight_decay_groups_exclude_embeddings_and_biases():
    model = ToyLM(vocab_size=5)
    decay, no_decay = parameter_groups(model)
    decay_ids = {id(p) for p in decay}
    assert id(model.head[1].weight) in decay_ids
    assert id(model.head[1].bias) not in decay_ids
    assert id(model.tok.weight) not in decay_ids
    assert len(decay) + len(no_decay) == len([p for p in model.parameters() if p.requires_grad])


def test_warmup_then_cosine_schedule():
    model = ToyLM(vocab_size=5, lr=1.0, min_lr=0.1, warmup_steps=10, lr_decay_steps=110)
    assert model.lr_factor(0) == pytest.approx(0.1)
    assert model.lr_factor(9) == pytest.approx(1.0)
    assert model.lr_factor(60) == pytest.approx(0.55)
    assert model.lr_factor(500) == pytest.approx(0.1)


def test_generation_refuses_bad_options():
    model = ToyLM(vocab_size=5)
    with pytest.raises(ConfigError, match="top_p"):
        model.generate(torch.tensor([[1]]), 3, top_p=1.5)
    with pytest.raises(ConfigError, match="prompt"):
        model.generate(torch.tensor([1]), 3)


def test_data_longer_than_the_model_accepts_is_refused_before_training():
    class Limited(ToyLM):
        @property
        def max_sequence_length(self):
            return 8

    spec = {"modality": "text", "tokenizer": None}
    Limited(vocab_size=5).adopt_data_spec({**spec, "sequence_length": 8})
    ToyLM(vocab_size=5).adopt_data_spec({**spec, "sequence_length": 4096})  # no limit by default
    with pytest.raises(ConfigError, match=r"Limited: the data's sequences are 9 tokens, longer than the 8 .*block_size"):
        Limited(vocab_size=5).adopt_data_spec({**spec, "sequence_length": 9})


class GradNorms(pl.Callback):
    """The global gradient norm each optimiser step used (still held after the step: they are cleared before the
    next backward)."""

    def __init__(self):
        self.norms = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        grads = [p.grad for p in pl_module.parameters() if p.grad is not None]
        self.norms.append(float(torch.linalg.vector_norm(torch.stack([g.norm() for g in grads]))))


@pytest.mark.parametrize("precision", ["32-true", "bf16-mixed"])
def test_adamw_stays_fused_under_bf16_mixed_and_gradients_are_clipped(precision):
    """bf16-mixed keeps no gradient scaler, so the fused AdamW is kept and its gradients clipped by the family."""
    torch.manual_seed(0)
    model = ToyLM(vocab_size=8, lr=1e-2, grad_clip=1e-3)  # far below the toy's gradient norm: every step clips
    norms = GradNorms()
    trainer = pl.Trainer(max_steps=3, precision=precision, callbacks=[norms], **trainer_kwargs())
    trainer.fit(model, DataLoader(cyclic_windows(count=24), batch_size=8))
    assert trainer.optimizers[0].defaults["fused"] is True
    assert len(norms.norms) == 3
    assert max(norms.norms) <= 1e-3 * 1.01, norms.norms

"""GPT-mini's network: shapes, causality, tying, initialisation, decay groups, KV cache and its window policy."""

import math

import pytest
import torch
from torch import nn

from gen_framework.data import ByteTokenizer, CharTokenizer
from gen_framework.errors import ConfigError
from gen_framework.families import GenerativeModule
from gen_framework_gpt_mini import PLUGIN, GPTMini


@pytest.fixture(autouse=True)
def one_thread():
    """These models are tiny: one thread is as fast, and a busy machine cannot stall a second one."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny(**overrides) -> GPTMini:
    torch.manual_seed(0)
    args = dict(n_layer=2, n_head=2, n_embd=16, block_size=8, vocab_size=13)
    args.update(overrides)
    return GPTMini(**args).eval()


def test_plugin_spec_points_at_the_model():
    assert PLUGIN.name == "gpt_mini" and PLUGIN.family == "autoregressive"
    assert PLUGIN.module_class is GPTMini and PLUGIN.default_datamodule == "pydocs"
    GPTMini(**PLUGIN.test_init_args, vocab_size=5)


def test_forward_gives_logits_for_every_position():
    model = tiny()
    tokens = torch.randint(0, 13, (3, 8))
    assert model(tokens).shape == (3, 8, 13)
    assert model(tokens[:, :1]).shape == (3, 1, 13)
    with pytest.raises(ConfigError, match="block_size=8"):
        model(torch.randint(0, 13, (1, 9)))


def test_changing_a_token_leaves_earlier_logits_unchanged():
    model = tiny(n_layer=3)
    tokens = torch.randint(0, 13, (2, 8))
    changed = tokens.clone()
    changed[:, 5] = (changed[:, 5] + 1) % 13
    with torch.no_grad():
        before, after = model(tokens), model(changed)
    torch.testing.assert_close(before[:, :5], after[:, :5], rtol=0, atol=1e-6)
    assert (before[:, 5:] - after[:, 5:]).abs().amax(dim=-1).min() > 1e-4


def test_output_layer_is_tied_to_the_token_embedding():
    model = tiny()
    assert model.lm_head.weight is model.transformer.wte.weight
    model.train()
    model(torch.randint(0, 13, (2, 8))).sum().backward()
    assert model.transformer.wte.weight.grad is not None
    # counted once: tokens (13 x 16) appear a single time in the parameter list
    assert sum(p is model.lm_head.weight for p in model.parameters()) == 1


def test_residual_projections_use_depth_scaled_init():
    torch.manual_seed(0)
    model = GPTMini(n_layer=8, n_head=4, n_embd=128, block_size=16, vocab_size=50, bias=True)
    for block in model.transformer.h:
        for proj in (block.attn.c_proj.weight, block.mlp.c_proj.weight):
            assert proj.std().item() == pytest.approx(0.02 / math.sqrt(16), rel=0.1)
        assert block.attn.c_attn.weight.std().item() == pytest.approx(0.02, rel=0.1)
        assert torch.count_nonzero(block.attn.c_attn.bias) == 0
    assert model.transformer.wpe.weight.std().item() == pytest.approx(0.02, rel=0.1)


def test_bias_false_removes_every_bias():
    model = tiny(bias=False)
    assert not [name for name, _ in model.named_parameters() if name.endswith("bias")]


def test_weight_decay_applies_to_matrices_only():
    model = tiny()
    optimizer = model.configure_optimizers()["optimizer"]
    decay, no_decay = optimizer.param_groups
    assert decay["weight_decay"] == model.weight_decay > 0 and no_decay["weight_decay"] == 0.0
    names = {id(p): n for n, p in model.named_parameters()}
    decayed = {names[id(p)] for p in decay["params"]}
    kept = {names[id(p)] for p in no_decay["params"]}
    matrices = ("attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj")
    assert decayed == {f"transformer.h.{i}.{m}.weight" for i in range(2) for m in matrices}
    assert {"transformer.wte.weight", "transformer.wpe.weight", "transformer.ln_f.weight"} <= kept
    assert all(n.endswith("bias") or "ln" in n or n.startswith(("transformer.wte", "transformer.wpe")) for n in kept)
    assert len(decayed) + len(kept) == len(list(model.parameters()))


@pytest.mark.parametrize(("n_embd", "n_head"), [(30, 4), (16, 3)])
def test_n_embd_not_divisible_by_n_head_is_refused(n_embd, n_head):
    with pytest.raises(ConfigError, match=rf"n_embd \({n_embd}\).*n_head \({n_head}\)"):
        GPTMini(n_embd=n_embd, n_head=n_head)


@pytest.mark.parametrize("bad", [{"n_layer": 0}, {"block_size": 0}, {"dropout": 1.0}, {"n_head": -2}])
def test_bad_sizes_are_refused(bad):
    with pytest.raises(ConfigError, match=next(iter(bad))):
        GPTMini(**bad)


def test_vocabulary_comes_from_the_data_spec():
    model = GPTMini(n_layer=1, n_head=2, n_embd=8, block_size=8)
    assert not hasattr(model, "lm_head")
    model.adopt_data_spec({"modality": "text", "tokenizer": CharTokenizer.fit("hello\nworld").to_dict()})
    assert model.vocab_size == 8 and model.hparams["vocab_size"] == 8
    assert model.lm_head.weight.shape == (8, 8)


def test_cached_logits_match_the_full_forward():
    model = tiny(n_layer=3)
    tokens = torch.randint(0, 13, (2, 8))
    cache = model.init_cache(2)
    with torch.no_grad():
        # chunks of 3, 1 and 4 tokens: an empty cache, one token, and several tokens after a filled prefix
        pieces = [model.forward_cached(tokens[:, a:b], cache) for a, b in ((0, 3), (3, 4), (4, 8))]
        torch.testing.assert_close(torch.cat(pieces, dim=1), model(tokens), rtol=0, atol=1e-5)
    assert cache.length == 8
    with pytest.raises(ConfigError, match="block_size=8"):
        model.forward_cached(tokens[:, :1], cache)


@pytest.mark.parametrize("block_size", [1, 2, 3, 8, 9])
def test_window_jumps_when_full_and_keeps_half(block_size):
    model = tiny(block_size=block_size, n_head=1)
    keep = max(1, block_size // 2)
    starts = [model.context_start(length) for length in range(1, 10 * block_size + 5)]
    for length, start in enumerate(starts, start=1):
        assert 0 <= length - start <= block_size
        assert length - start >= min(length, keep)
    assert starts[:block_size] == [0] * block_size
    moves = [(length, start) for length, (prev, start) in enumerate(zip(starts, starts[1:]), start=2) if start != prev]
    # the window only moves when it is full, and then keeps exactly `keep` tokens
    assert moves and all(length - start == keep for length, start in moves)


@pytest.mark.parametrize(
    "options",
    [{"temperature": 0.0}, {}, {"temperature": 1.3, "top_k": 4}, {"temperature": 2.0, "top_p": 0.8},
     {"temperature": 0.7, "top_k": 6, "top_p": 0.9}],
)
def test_cached_and_recomputed_generation_give_identical_tokens(options, monkeypatch):
    model = tiny(n_layer=2, block_size=8)
    prompt = torch.randint(0, 13, (3, 3))
    refills = []
    original = model.init_cache
    monkeypatch.setattr(model, "init_cache", lambda *a, **k: refills.append(1) or original(*a, **k))
    cached = model.generate(prompt, 37, use_cache=True, seed=11, **options)
    recomputed = model.generate(prompt, 37, use_cache=False, seed=11, **options)
    assert cached.shape == (3, 40)
    assert torch.equal(cached, recomputed)
    # 40 tokens with block_size 8 (windows start every 5 tokens): the cache was refilled several times
    assert len(refills) == len({model.context_start(n) for n in range(3, 40)}) >= 7


def test_prompt_longer_than_the_block_is_cropped_by_the_window():
    model = tiny(block_size=8)
    prompt = torch.randint(0, 13, (2, 21))
    cached = model.generate(prompt, 10, use_cache=True, seed=3)
    assert torch.equal(cached, model.generate(prompt, 10, use_cache=False, seed=3))
    assert torch.equal(cached[:, :21], prompt)


def test_default_prompt_is_a_newline_when_the_tokenizer_has_one():
    model = tiny()
    assert model.default_prompt() == [0]
    chars = CharTokenizer.fit("ab\ncd")
    model.data_spec = {"modality": "text", "tokenizer": chars.to_dict()}
    assert model.default_prompt() == chars.encode("\n") == [0]
    model.data_spec = {"modality": "text", "tokenizer": CharTokenizer.fit(" abc").to_dict()}
    assert model.default_prompt() == [0]
    model.data_spec = {"modality": "text", "tokenizer": ByteTokenizer().to_dict()}
    assert model.default_prompt() == [10]


def test_pretrained_round_trip_gives_identical_samples(tmp_path):
    torch.manual_seed(0)
    text = "def f(x):\n    return x + 1\n"
    model = GPTMini(n_layer=1, n_head=2, n_embd=16, block_size=8, ema_decay=0.9)
    model.adopt_data_spec({"modality": "text", "tokenizer": CharTokenizer.fit(text).to_dict()})
    model._build_ema()
    model.update_ema()
    with torch.no_grad():  # move the live weights away from the average, so that the EMA weights differ
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    model.update_ema()
    model.save_pretrained(tmp_path / "gpt")
    loaded = GenerativeModule.from_pretrained(tmp_path / "gpt")
    assert isinstance(loaded, GPTMini) and loaded.lm_head.weight is loaded.transformer.wte.weight
    assert loaded.data_spec == model.data_spec
    options = dict(prompt="def ", max_new_tokens=30, temperature=0.8, top_k=5)
    first = model.sample(4, seed=5, **options)
    assert torch.equal(first, loaded.sample(4, seed=5, **options))
    assert not torch.equal(first, loaded.sample(4, seed=6, **options))
    assert loaded.tokenizer.decode(first[0].tolist()).startswith("def ")


def test_compiled_forward_is_used_only_for_training(monkeypatch):
    calls = []
    monkeypatch.setattr(torch, "compile", lambda fn: calls.append(fn) or fn)
    model = tiny(compile=True)
    tokens = torch.randint(0, 13, (2, 8))
    model.eval()
    model(tokens)
    assert not calls
    model.train()
    model(tokens)
    model(tokens)
    assert len(calls) == 1 and model.hparams["compile"] is True
    assert isinstance(model.compile, type(nn.Module().compile))  # nn.Module.compile is not shadowed


def test_attention_runs_in_float32_under_bf16_autocast_on_cpu(monkeypatch):
    """CPU flash attention is several times slower in bf16 than in float32: under bf16-mixed it gets float32."""
    import gen_framework_gpt_mini.model as model_module

    seen = []
    attend = model_module.F.scaled_dot_product_attention

    def recording(q, k, v, **kwargs):
        seen.append((q.dtype, k.dtype, v.dtype, torch.is_autocast_enabled("cpu")))
        return attend(q, k, v, **kwargs)

    monkeypatch.setattr(model_module.F, "scaled_dot_product_attention", recording)
    model = tiny().train()
    tokens = torch.randint(0, 13, (2, 8))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = model(tokens)
    assert logits.dtype == torch.bfloat16  # the projections around attention still run in bf16
    logits.float().sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters() if p.requires_grad)
    assert seen and all(entry == (torch.float32, torch.float32, torch.float32, False) for entry in seen), seen
    seen.clear()
    model(tokens)  # float32 outside autocast: unchanged
    assert seen and all(entry[:3] == (torch.float32,) * 3 for entry in seen)

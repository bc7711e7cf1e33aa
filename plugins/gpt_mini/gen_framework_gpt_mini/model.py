"""GPT-mini: a nanoGPT-class decoder-only transformer over characters, bytes or BPE tokens.

Reads top to bottom: attention, MLP, block, then :class:`GPTMini`, the Lightning module. The training loop,
loss, AdamW decay groups, warm-up + cosine schedule, gradient clipping and sampling (temperature, top-k,
top-p) belong to :class:`~gen_framework.families.AutoregressiveModule`; this file provides the network, its
initialisation and the key/value cache used for incremental decoding.

Shapes: ``B`` batch, ``T`` sequence length, ``C`` embedding width (``n_embd``), ``nh`` heads, ``hs`` head size
(``C // nh``), ``V`` vocabulary size.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gen_framework.errors import ConfigError, DataError
from gen_framework.families import AutoregressiveModule


class CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention through ``scaled_dot_product_attention`` (fused kernels where available)."""

    def __init__(self, n_embd: int, n_head: int, dropout: float, bias: bool) -> None:
        super().__init__()
        self.n_head, self.n_embd, self.dropout = n_head, n_embd, dropout
        self.c_attn = nn.Linear(n_embd, 3 * n_embd, bias=bias)  # query, key, value of all heads at once
        self.c_proj = nn.Linear(n_embd, n_embd, bias=bias)
        self.resid_dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor, layer_cache: tuple[Tensor, Tensor] | None = None, past: int = 0) -> Tensor:
        """Attend ``x`` ``(B, T, C)`` causally; with ``layer_cache`` (keys, values ``(B, nh, block_size, hs)``)
        holding ``past`` earlier positions, ``x`` continues them and its keys/values are written after them."""
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        mask = None
        causal = True
        if layer_cache is not None:
            keys, values = layer_cache
            keys[:, :, past : past + T] = k
            values[:, :, past : past + T] = v
            k, v = keys[:, :, : past + T], values[:, :, : past + T]  # (B, nh, past + T, hs)
            if past > 0:
                # `is_causal` aligns the mask top-left, which is wrong once queries start after `past` keys.
                causal = False
                if T > 1:
                    mask = torch.ones(T, past + T, dtype=torch.bool, device=x.device).tril(diagonal=past)
        dropout_p = self.dropout if self.training else 0.0
        if q.dtype == torch.bfloat16 and q.device.type == "cpu":
            y = _attend_in_float32(q, k, v, mask, dropout_p, causal and T > 1).to(q.dtype)
        else:
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p, is_causal=causal and T > 1)
        y = y.transpose(1, 2).contiguous().view(B, T, C)  # y was (B, nh, T, hs)
        return self.resid_dropout(self.c_proj(y))


def _attend_in_float32(
    q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None, dropout_p: float, is_causal: bool
) -> Tensor:
    """``scaled_dot_product_attention`` of bf16 ``q, k, v`` ``(B, nh, T, hs)`` computed in float32, on CPU.

    PyTorch's CPU flash-attention kernel is several times slower in bf16 than in float32 (forward + backward at
    B=12, nh=4, T=64, hs=32, one thread: 7.3 ms against 2.0 ms; it was 40% of a bf16-mixed GPT-mini step), while
    the surrounding projections gain from bf16. Autocast would cast float32 inputs back to bf16, so it is off here.
    """
    with torch.autocast("cpu", enabled=False):
        return F.scaled_dot_product_attention(
            q.float(), k.float(), v.float(), attn_mask=mask, dropout_p=dropout_p, is_causal=is_causal
        )


class MLP(nn.Module):
    """Position-wise feed-forward network, 4× wide with GELU."""

    def __init__(self, n_embd: int, dropout: float, bias: bool) -> None:
        super().__init__()
        self.c_fc = nn.Linear(n_embd, 4 * n_embd, bias=bias)
        self.gelu = nn.GELU()
        self.c_proj = nn.Linear(4 * n_embd, n_embd, bias=bias)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class Block(nn.Module):
    """Pre-LayerNorm transformer block: ``x + attn(ln(x))`` then ``x + mlp(ln(x))``."""

    def __init__(self, n_embd: int, n_head: int, dropout: float, bias: bool) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(n_embd, bias=bias)
        self.attn = CausalSelfAttention(n_embd, n_head, dropout, bias)
        self.ln_2 = nn.LayerNorm(n_embd, bias=bias)
        self.mlp = MLP(n_embd, dropout, bias)

    def forward(self, x: Tensor, layer_cache: tuple[Tensor, Tensor] | None = None, past: int = 0) -> Tensor:
        x = x + self.attn(self.ln_1(x), layer_cache, past)
        return x + self.mlp(self.ln_2(x))


@dataclass
class KVCache:
    """Keys and values of every layer for the positions decoded so far.

    Attributes:
        keys: One ``(B, nh, block_size, hs)`` buffer per layer; positions ``[0, length)`` are filled.
        values: Same shapes as ``keys``.
        length: Number of positions held, at most ``block_size``.
    """

    keys: list[Tensor] = field(default_factory=list)
    values: list[Tensor] = field(default_factory=list)
    length: int = 0


class GPTMini(AutoregressiveModule):
    """A nanoGPT-class language model: token + learned position embeddings, pre-LN blocks, tied output layer.

    The vocabulary size V comes from the datamodule's tokenizer when training starts (leave ``vocab_size``
    unset). Optimiser options (``lr``, ``min_lr``, ``weight_decay``, ``betas``, ``warmup_steps``,
    ``lr_decay_steps``, ``grad_clip``) and ``ema_decay`` are those of :class:`AutoregressiveModule`.

    Generation past ``block_size`` tokens: positions are absolute, so the key/value cache cannot slide one
    token at a time. When the window is full it jumps forward, keeping the last ``block_size // 2`` tokens
    (see :meth:`context_start`); the cached and the recomputing paths use the same windows and therefore give
    identical tokens for the same seed.

    Args:
        n_layer: Number of transformer blocks, >= 1.
        n_head: Attention heads per block, >= 1; must divide ``n_embd``.
        n_embd: Embedding width C, >= 1.
        block_size: Longest context in tokens, >= 1 (share it with the datamodule's ``block_size``).
        dropout: Dropout on embeddings, attention weights and residual branches, in [0, 1).
        bias: Biases in the linear layers and LayerNorms (GPT-2 has them; without is slightly faster).
        compile: Run the network through ``torch.compile`` while training (inference stays eager).
        **kwargs: Options of :class:`AutoregressiveModule` (``vocab_size``, ``lr``, ``warmup_steps``, ...).
    """

    modality = "text"

    def __init__(
        self,
        n_layer: int = 4,
        n_head: int = 4,
        n_embd: int = 128,
        block_size: int = 64,
        dropout: float = 0.0,
        bias: bool = True,
        compile: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        for name, value in (("n_layer", n_layer), ("n_head", n_head), ("n_embd", n_embd), ("block_size", block_size)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"GPTMini: {name} must be an integer >= 1, got {value!r}")
        if n_embd % n_head != 0:
            raise ConfigError(
                f"GPTMini: n_embd ({n_embd}) must be divisible by n_head ({n_head}); e.g. n_embd="
                f"{n_head * max(1, round(n_embd / n_head))} or an n_head that divides {n_embd}"
            )
        if not 0.0 <= dropout < 1.0:
            raise ConfigError(f"GPTMini: dropout must be in [0, 1), got {dropout}")
        self.n_layer, self.n_head, self.n_embd, self.block_size = n_layer, n_head, n_embd, block_size
        self.dropout, self.bias = dropout, bias
        # Not `self.compile`: that name is nn.Module's own compile() method.
        self.compile_network = compile
        self._compiled_logits: Callable[[Tensor], Tensor] | None = None
        self.ensure_network()

    # ---------------------------------------------------------------- network

    def build_network(self, vocab_size: int) -> None:
        """Called once V is known: build the embeddings, blocks and tied output layer, then initialise them."""
        C = self.n_embd
        self.transformer = nn.ModuleDict(
            dict(
                wte=nn.Embedding(vocab_size, C),
                wpe=nn.Embedding(self.block_size, C),
                drop=nn.Dropout(self.dropout),
                h=nn.ModuleList([Block(C, self.n_head, self.dropout, self.bias) for _ in range(self.n_layer)]),
                ln_f=nn.LayerNorm(C, bias=self.bias),
            )
        )
        self.lm_head = nn.Linear(C, vocab_size, bias=False)
        # Weight tying (Press & Wolf 2017): the output layer reads logits off the token embeddings.
        self.transformer.wte.weight = self.lm_head.weight
        self.apply(self._init_weights)
        # GPT-2: scale the residual projections so the residual stream's variance does not grow with depth.
        for name, param in self.named_parameters():
            if name.endswith("c_proj.weight"):
                nn.init.normal_(param, mean=0.0, std=0.02 / math.sqrt(2 * self.n_layer))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    @property
    def context_size(self) -> int:
        return self.block_size

    @property
    def max_sequence_length(self) -> int:
        return self.block_size  # learned position embeddings stop there

    def ema_module_names(self) -> list[str]:
        return ["transformer", "lm_head"]

    def num_parameters(self, non_embedding: bool = True) -> int:
        """Parameter count; ``non_embedding`` leaves out the position embeddings (the token ones are tied)."""
        self._require_network()
        count = sum(p.numel() for p in self.parameters() if p.requires_grad)
        return count - self.transformer.wpe.weight.numel() if non_embedding else count

    # ---------------------------------------------------------------- forward

    def forward(self, tokens: Tensor, condition: Tensor | None = None) -> Tensor:
        """Next-token logits at every position.

        Args:
            tokens: int64 ``(B, T)`` ids in ``[0, V)``, ``T <= block_size``.
            condition: Unused (GPT-mini is unconditional); accepted for the family's signature.

        Returns:
            Logits ``(B, T, V)``; position t depends only on tokens ``<= t``.
        """
        self._require_network()
        if tokens.shape[1] > self.block_size:
            raise ConfigError(
                f"GPTMini: a sequence of {tokens.shape[1]} tokens is longer than block_size={self.block_size}; "
                f"set the model's block_size to at least {tokens.shape[1]} (the data's block_size) or lower the data's"
            )
        if self.compile_network and self.training:
            if self._compiled_logits is None:
                self._compiled_logits = torch.compile(self._logits)
            return self._compiled_logits(tokens)
        return self._logits(tokens)

    def _logits(self, tokens: Tensor, cache: KVCache | None = None) -> Tensor:
        """Logits ``(B, T, V)`` of ``tokens`` ``(B, T)``; with ``cache`` they continue its ``cache.length``
        positions, and their keys and values are appended to it."""
        past = cache.length if cache is not None else 0
        T = tokens.shape[1]
        pos = torch.arange(past, past + T, dtype=torch.long, device=tokens.device)  # (T,)
        x = self.transformer.drop(self.transformer.wte(tokens) + self.transformer.wpe(pos))  # (B, T, C)
        for i, block in enumerate(self.transformer.h):
            layer_cache = (cache.keys[i], cache.values[i]) if cache is not None else None
            x = block(x, layer_cache, past)
        if cache is not None:
            cache.length = past + T
        return self.lm_head(self.transformer.ln_f(x))  # (B, T, V)

    # -------------------------------------------------- incremental decoding

    def init_cache(self, batch_size: int, condition: Tensor | None = None) -> KVCache:
        """Called when cached generation starts and whenever the window jumps: empty buffers for ``block_size``."""
        self._require_network()
        weight = self.lm_head.weight
        shape = (batch_size, self.n_head, self.block_size, self.n_embd // self.n_head)
        return KVCache(
            keys=[weight.new_empty(shape) for _ in range(self.n_layer)],
            values=[weight.new_empty(shape) for _ in range(self.n_layer)],
        )

    def forward_cached(self, tokens: Tensor, cache: KVCache) -> Tensor:
        """Called with tokens ``(B, T)`` that continue the ``cache.length`` positions in ``cache``.

        Returns:
            Logits ``(B, T, V)`` equal (to float precision) to the last T positions of :meth:`forward` over the
            whole window.
        """
        if cache.length + tokens.shape[1] > self.block_size:
            raise ConfigError(
                f"GPTMini: the cache holds {cache.length} positions; {tokens.shape[1]} more exceed "
                f"block_size={self.block_size}"
            )
        return self._logits(tokens, cache)

    def context_start(self, length: int) -> int:
        """Called before each generated token: the first position of the window, given ``length`` tokens.

        The first window is ``[0, block_size)``. When it is full, the next one starts so that it holds the
        last ``keep = max(1, block_size // 2)`` tokens, and stays put until it is full again; so window
        starts are multiples of ``block_size + 1 - keep`` and the context always holds between ``keep`` and
        ``block_size`` tokens. A window that moves one token at a time would force the cache to be rebuilt
        at every token, because the position embeddings are absolute.
        """
        if length <= self.block_size:
            return 0
        keep = max(1, self.block_size // 2)
        step = self.block_size + 1 - keep
        return math.ceil((length - self.block_size) / step) * step

    def default_prompt(self) -> list[int]:
        """Called when sampling without a prompt: a newline token if the tokenizer has one, else token 0."""
        tokenizer = self.tokenizer
        if tokenizer is not None:
            try:
                ids = tokenizer.encode("\n")
            except DataError:  # a character vocabulary without "\n"
                ids = []
            if len(ids) == 1:
                return [int(ids[0])]
        return [0]

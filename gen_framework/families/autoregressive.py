"""`AutoregressiveModule`: the family base of next-token models (text, mu-law audio, image tokens).

A plugin implements :meth:`AutoregressiveModule.build_network` (called once the vocabulary size V is known)
and ``forward(tokens (B, T) int64, condition=None) -> logits (B, T, V)``, causal: the logits at position t
depend only on tokens ≤ t and predict token t + 1. Optionally it supports incremental decoding through the
cache protocol (:meth:`init_cache`, :meth:`forward_cached`). The base owns the next-token cross-entropy, bits
per token, perplexity, the optimiser (AdamW with decay groups, warm-up and cosine decay) and :meth:`generate`.

Data that are not token windows (images, any tensor) reach the base through two adapter hooks:
:meth:`~AutoregressiveModule.tokens_from_batch` turns a batch into token sequences ``(B, L)`` (e.g. quantised
pixels in raster order after a start token) and :meth:`~AutoregressiveModule.decode_tokens` turns generated
sequences back into samples (e.g. images ``(N, C, H, W)``); :meth:`~AutoregressiveModule.default_num_new_tokens`
says how many tokens one sample needs. The loss, the kit's checks and sampling all go through them.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, Literal, final

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gen_framework.errors import ConfigError
from gen_framework.families.base import GenerativeModule

#: Module types whose weights are not decayed by AdamW (nanoGPT's rule, plus every bias).
_NO_DECAY = (nn.Embedding, nn.LayerNorm, nn.GroupNorm, nn.BatchNorm1d, nn.BatchNorm2d, nn.RMSNorm)


class AutoregressiveModule(GenerativeModule):
    """Base of autoregressive models: p(x) = Π_t p(x_t | x_<t) over a vocabulary of V tokens.

    Args:
        vocab_size: V. ``None`` takes it from the datamodule's tokenizer or quantiser when training starts.
        lr: Peak learning rate of AdamW.
        min_lr: Learning rate at the end of the cosine decay.
        weight_decay: AdamW weight decay, applied to matrices only (not to biases, norms or embeddings).
        betas: AdamW betas.
        warmup_steps: Linear warm-up steps from 0 to ``lr``.
        lr_decay_steps: Step at which the cosine decay reaches ``min_lr`` (constant afterwards); ``None``
            keeps ``lr`` after warm-up.
        grad_clip: Clip the global gradient norm to this value; ``None`` disables clipping.
        ema_decay: Decay of an EMA of the network used for sampling; ``None`` disables it.
    """

    family: ClassVar[Literal["autoregressive"]] = "autoregressive"
    #: ``"image"`` for a model of image tokens (with ``output_range`` (-1, 1) and the adapter hooks).
    modality: ClassVar[Literal["text", "audio", "image"]] = "text"
    output_range: ClassVar[tuple[float, float] | None] = None
    #: True when the model's cache itself realises the sliding context window (e.g. WaveNet's queues), so
    #: cached generation never has to refill it; False when the cache must be refilled whenever
    #: :meth:`context_start` moves (e.g. a transformer with absolute positions).
    cache_slides: ClassVar[bool] = False

    def __init__(
        self,
        vocab_size: int | None = None,
        lr: float = 1e-3,
        min_lr: float = 1e-4,
        weight_decay: float = 0.1,
        betas: tuple[float, float] = (0.9, 0.95),
        warmup_steps: int = 0,
        lr_decay_steps: int | None = None,
        grad_clip: float | None = 1.0,
        ema_decay: float | None = None,
    ) -> None:
        super().__init__(ema_decay=ema_decay)
        if vocab_size is not None and vocab_size < 2:
            raise ConfigError(f"{type(self).__name__}: vocab_size must be >= 2 or null, got {vocab_size}")
        if lr <= 0 or min_lr < 0 or warmup_steps < 0 or (lr_decay_steps is not None and lr_decay_steps < 1):
            raise ConfigError(
                f"{type(self).__name__}: need lr > 0, min_lr >= 0, warmup_steps >= 0 and lr_decay_steps >= 1 or null; "
                f"got lr={lr}, min_lr={min_lr}, warmup_steps={warmup_steps}, lr_decay_steps={lr_decay_steps}"
            )
        self.vocab_size = vocab_size
        self.lr, self.min_lr, self.weight_decay, self.betas = lr, min_lr, weight_decay, tuple(betas)
        self.warmup_steps, self.lr_decay_steps, self.grad_clip = warmup_steps, lr_decay_steps, grad_clip
        self._network_built = False

    # ------------------------------------------------------------------ hooks

    def build_network(self, vocab_size: int) -> None:
        """Called once V is known (at init when given, else when the datamodule is attached): build layers."""
        raise NotImplementedError(f"{type(self).__name__} must implement build_network()")

    @property
    def context_size(self) -> int:
        """The longest context the network conditions on (block size, receptive field), in tokens."""
        raise NotImplementedError(f"{type(self).__name__} must define context_size")

    @property
    def max_sequence_length(self) -> int | None:
        """The longest input sequence the network accepts, in tokens (learned positions); ``None``: any length.

        Data whose ``sequence_length`` is longer is refused when the data is adopted, before training starts.
        """
        return None

    def context_start(self, length: int) -> int:
        """Called before each generated token: first position of the context given ``length`` tokens so far.

        The default slides the window one token at a time. Both generation paths use it, so they agree.
        """
        return max(0, length - self.context_size)

    def init_cache(self, batch_size: int, condition: Tensor | None = None) -> Any | None:
        """Called when cached generation starts or refills: an empty cache, or ``None`` if unsupported."""
        return None

    def forward_cached(self, tokens: Tensor, cache: Any) -> Tensor:
        """Called with tokens ``(B, T)`` that continue the sequence held by ``cache``; updates ``cache``.

        Returns:
            Logits ``(B, T, V)`` equal (to float precision) to the last T positions of a full forward.
        """
        raise NotImplementedError(f"{type(self).__name__} has no incremental decoding")

    def tokens_from_batch(self, batch: Any) -> Tensor:
        """Called on every training, validation and test batch (and by the kit's checks): token ids ``(B, L)``.

        The loss is the next-token cross-entropy of ``forward(tokens[:, :-1])`` against ``tokens[:, 1:]``. The
        default takes the token windows of text and audio batches (a tensor, the first item of a tuple, or
        ``batch["tokens"]``). A model of other data converts here, with no gradients involved: an image model
        quantises ``(B, C, H, W)`` pixels to V levels and lays them out in raster order after a start token,
        ``(B, 1 + C·H·W)``. It runs on the batch already on the model's device.
        """
        return split_batch(batch)[0]

    def condition_from_batch(self, batch: Any) -> Tensor | None:
        """Called beside :meth:`tokens_from_batch`: the condition ``(B, ...)`` passed to ``forward``, or ``None``.

        The default takes the second item of a tuple batch (labels) or ``batch["condition"]``.
        """
        return split_batch(batch)[1]

    def decode_tokens(self, tokens: Tensor) -> Tensor:
        """Called on generated tokens ``(N, T)`` before :meth:`sample` returns them: the inverse of
        :meth:`tokens_from_batch`. Identity for text; mu-law decoding to audio ``(N, T)``; for images, drop the
        start token and reshape and dequantise to ``(N, C, H, W)`` in ``output_range``."""
        return tokens

    def default_prompt(self) -> list[int]:
        """Called when sampling without a prompt: the tokens every sample starts from (an image model's start
        token)."""
        return [0]

    def default_num_new_tokens(self) -> int:
        """Called when sampling without ``max_new_tokens``: tokens generated after the prompt.

        Text and audio default to 256; a model of fixed-size data returns the size of one sample in tokens
        (an image model ``C·H·W``), so that ``sample(n)`` gives whole samples.
        """
        return 256

    # ---------------------------------------------------------- the network

    @final
    def ensure_network(self) -> None:
        """Build the network if V is known and it is not built yet; plugins call this at the end of __init__."""
        if not self._network_built and self.vocab_size is not None:
            self.build_network(self.vocab_size)
            self._network_built = True

    def adopt_data_spec(self, spec: dict[str, Any]) -> None:
        super().adopt_data_spec(spec)
        longest, length = self.max_sequence_length, spec.get("sequence_length")
        if longest is not None and length is not None and length > longest:
            raise ConfigError(
                f"{type(self).__name__}: the data's sequences are {length} tokens, longer than the {longest} the "
                f"model accepts; set the model's block_size (the option behind its max_sequence_length) to at "
                f"least {length}, or lower the data's block_size"
            )
        data_vocab = vocab_size_of(spec)
        if data_vocab is None:
            return
        if self.vocab_size is None:
            self.vocab_size = data_vocab
            self.hparams["vocab_size"] = data_vocab
        elif self.vocab_size != data_vocab:
            raise ConfigError(
                f"the model's vocab_size is {self.vocab_size} but the datamodule's tokenizer has {data_vocab} "
                "tokens; leave vocab_size unset to take it from the data"
            )
        self.ensure_network()

    def adopt_loaded_data_spec(self, spec: dict[str, Any]) -> None:
        super().adopt_loaded_data_spec(spec)
        self.ensure_network()

    def _require_network(self) -> None:
        self.ensure_network()
        if not self._network_built:
            raise ConfigError(
                f"{type(self).__name__} does not know its vocabulary size: set model.init_args.vocab_size or "
                "use a datamodule with a tokenizer"
            )

    # --------------------------------------------------------------- training

    @final
    def training_step(self, batch: Any, batch_idx: int) -> Tensor:
        # Dropout masks come from this rank's stream for this step.
        with self.training_randomness():
            loss = self._next_token_loss(batch)
        self.step_losses = {"train/loss": loss.detach()}
        if self.is_logging_step:
            self.log("train/loss", loss, prog_bar=True)
            self.log("train/bits_per_token", loss / math.log(2))
        return loss

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        self._evaluate(batch, "val")

    def test_step(self, batch: Any, batch_idx: int) -> None:
        self._evaluate(batch, "test")

    def _evaluate(self, batch: Any, stage: str) -> None:
        loss = self._next_token_loss(batch)
        self.log(f"{stage}/loss", loss, sync_dist=True, prog_bar=stage == "val")
        self.log(f"{stage}/bits_per_token", loss / math.log(2), sync_dist=True)
        self.log(f"{stage}/perplexity", loss.exp(), sync_dist=True)

    def _next_token_loss(self, batch: Any) -> Tensor:
        tokens, condition = self.tokens_from_batch(batch), self.condition_from_batch(batch)
        inputs, targets = tokens[:, :-1], tokens[:, 1:]
        logits = self(inputs) if condition is None else self(inputs, condition=condition)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), targets.reshape(-1))

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        self.update_ema()

    def configure_gradient_clipping(
        self, optimizer: torch.optim.Optimizer, gradient_clip_val: float | None = None, gradient_clip_algorithm: str | None = None
    ) -> None:
        clip = gradient_clip_val if gradient_clip_val is not None else self.grad_clip
        if clip is None:
            return
        algorithm = gradient_clip_algorithm or "norm"
        if getattr(optimizer, "_step_supports_amp_scaling", False) and _without_grad_scaler(self.trainer):
            # A fused optimiser is clipped here: Lightning's mixed-precision plugin refuses to, since under 16-mixed
            # the gradients are still scaled when clipping runs. Without a scaler (bf16-mixed, 32-true) they are
            # true gradients, and this is what Lightning's own clipping does.
            params = [p for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
            if algorithm == "norm":
                torch.nn.utils.clip_grad_norm_(params, clip)
            else:
                torch.nn.utils.clip_grad_value_(params, clip)
            return
        self.clip_gradients(optimizer, gradient_clip_val=clip, gradient_clip_algorithm=algorithm)

    def configure_optimizers(self) -> Any:
        self._require_network()
        decay, no_decay = parameter_groups(self)
        # On CPU torch's default AdamW updates one tensor at a time (about 3% of a GPT-mini step); the fused kernel
        # does the same arithmetic in one pass. Elsewhere torch's default (foreach on CUDA) is kept, and under
        # 16-mixed too, whose gradient scaler would have the fused kernel unscale after clipping.
        precision = str(getattr(self._trainer, "precision", "32-true"))
        on_cpu = precision != "16-mixed" and all(p.device.type == "cpu" for p in decay + no_decay)
        optimizer = torch.optim.AdamW(
            [{"params": decay, "weight_decay": self.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
            lr=self.lr,
            betas=self.betas,
            fused=True if on_cpu else None,
        )
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, self.lr_factor)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def lr_factor(self, step: int) -> float:
        """Learning rate at optimiser step ``step`` as a fraction of ``lr``: linear warm-up, then cosine decay."""
        if step < self.warmup_steps:
            return (step + 1) / self.warmup_steps
        if self.lr_decay_steps is None:
            return 1.0
        floor = self.min_lr / self.lr
        if step >= self.lr_decay_steps:
            return floor
        progress = (step - self.warmup_steps) / max(1, self.lr_decay_steps - self.warmup_steps)
        return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))

    # ------------------------------------------------------------- generation

    @final
    @torch.no_grad()
    def generate(
        self,
        prompt: Tensor,
        max_new_tokens: int,
        *,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        use_cache: bool = True,
        seed: int | None = None,
        generator: torch.Generator | None = None,
        condition: Tensor | None = None,
    ) -> Tensor:
        """Continue ``prompt`` ``(B, T0)`` by ``max_new_tokens`` tokens → ``(B, T0 + max_new_tokens)``.

        Cached decoding is used when the network supports it and ``use_cache``; otherwise each token
        recomputes the context window. Both paths see the same window and draw the same random numbers, so
        the same seed gives the same tokens.

        Args:
            temperature: Softmax temperature; 0 picks the most likely token.
            top_k: Keep only the k most likely tokens.
            top_p: Keep the smallest set of tokens whose probability reaches p (nucleus sampling).
            seed: Seeds a new generator when ``generator`` is not given.
        """
        self._require_network()
        if prompt.dim() != 2 or prompt.shape[1] < 1:
            raise ConfigError(f"prompt must be (batch, length >= 1) token ids, got shape {tuple(prompt.shape)}")
        if temperature < 0 or (top_k is not None and top_k < 1) or (top_p is not None and not 0 < top_p <= 1):
            raise ConfigError(f"need temperature >= 0, top_k >= 1, 0 < top_p <= 1; got {temperature}, {top_k}, {top_p}")
        if generator is None:
            generator = torch.Generator(device=self.device)
            generator.manual_seed(seed) if seed is not None else generator.seed()
        batch, prompt_length = prompt.shape
        # Filled in place: growing the sequence by concatenation would copy it at every token.
        tokens = prompt.new_empty(batch, prompt_length + max_new_tokens, device=self.device)
        tokens[:, :prompt_length] = prompt
        cache = self.init_cache(batch, condition) if use_cache else None
        cache_start: int | None = None
        for length in range(prompt_length, prompt_length + max_new_tokens):
            start = self.context_start(length)
            if cache is None:
                context = tokens[:, start:length]
                logits = self(context) if condition is None else self(context, condition=condition)
            elif cache_start is None or (start != cache_start and not self.cache_slides):
                cache = cache if cache_start is None else self.init_cache(batch, condition)
                cache_start = start
                logits = self.forward_cached(tokens[:, start:length], cache)
            else:
                logits = self.forward_cached(tokens[:, length - 1 : length], cache)
            next_token = sample_next_token(logits[:, -1].float(), temperature, top_k, top_p, generator)
            tokens[:, length : length + 1] = next_token
        return tokens

    def generate_samples(
        self,
        num_samples: int,
        *,
        generator: torch.Generator,
        prompt: str | list[int] | None = None,
        max_new_tokens: int | None = None,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        use_cache: bool = True,
    ) -> Tensor:
        """``num_samples`` continuations of ``prompt``, decoded by :meth:`decode_tokens`.

        Args:
            prompt: Text every sample starts with (encoded with the model's tokenizer), or token ids ``(T0,)``
                shared by all samples; without it, :meth:`default_prompt`. Per-sample prompts ``(N, T0)``:
                call :meth:`generate` then :meth:`decode_tokens`.
            max_new_tokens: Tokens generated after the prompt; ``None``: :meth:`default_num_new_tokens`
                (256 for text and audio, one whole sample for fixed-size data such as images).
            temperature: Softmax temperature; 0 is greedy.
            top_k: Keep only the k most likely tokens.
            top_p: Nucleus sampling threshold.
            use_cache: Use incremental decoding when the network supports it.

        Returns:
            ``decode_tokens`` of token ids ``(N, T0 + max_new_tokens)``: tokens for text, audio ``(N, T)``,
            images ``(N, C, H, W)``.
        """
        if prompt is None:
            ids = self.default_prompt()
        elif isinstance(prompt, str):
            ids = self.encode_prompt(prompt)
        else:
            self._require_network()
            ids = [int(token) for token in prompt]
            if not ids or any(not 0 <= token < (self.vocab_size or 0) for token in ids):
                raise ConfigError(f"prompt token ids must be a non-empty list in [0, {self.vocab_size}), got {ids}")
        if max_new_tokens is None:
            max_new_tokens = self.default_num_new_tokens()
        start = torch.tensor(ids, dtype=torch.long, device=self.device).unsqueeze(0).repeat(num_samples, 1)
        tokens = self.generate(
            start, max_new_tokens, temperature=temperature, top_k=top_k, top_p=top_p,
            use_cache=use_cache, generator=generator,
        )
        return self.decode_tokens(tokens)

    def encode_prompt(self, prompt: str) -> list[int]:
        """Token ids of a text prompt, through the tokenizer saved with the model."""
        tokenizer = self.tokenizer
        if tokenizer is None:
            raise ConfigError(f"{type(self).__name__} has no tokenizer to encode the prompt {prompt!r}")
        ids = tokenizer.encode(prompt)
        if not ids:
            raise ConfigError("the prompt is empty after tokenisation")
        return list(ids)

    @property
    def tokenizer(self) -> Any | None:
        """The tokenizer of the data spec (text models), rebuilt from its saved form; ``None`` otherwise."""
        spec = self.data_spec.get("tokenizer")
        if spec is None:
            return None
        from gen_framework.data.tokenizers import tokenizer_from_dict

        return tokenizer_from_dict(spec)


def _without_grad_scaler(trainer: Any) -> bool:
    """Whether the trainer's precision keeps no gradient scaler (everything but 16-mixed)."""
    return getattr(trainer.precision_plugin, "scaler", None) is None


def split_batch(batch: Any) -> tuple[Tensor, Tensor | None]:
    """``(tokens (B, T+1), condition (B,) or None)`` of a batch given as a tensor or a ``(tokens, label)`` pair."""
    if isinstance(batch, Tensor):
        return batch, None
    if isinstance(batch, dict):
        return batch["tokens"], batch.get("condition")
    return batch[0], (batch[1] if len(batch) > 1 else None)


def vocab_size_of(spec: dict[str, Any]) -> int | None:
    """V implied by a data spec: the tokenizer's vocabulary or the quantiser's number of levels."""
    if spec.get("tokenizer") is not None:
        from gen_framework.data.tokenizers import tokenizer_from_dict

        return int(tokenizer_from_dict(spec["tokenizer"]).vocab_size)
    quantization = spec.get("quantization")
    if quantization is not None:
        return int(quantization["levels"])
    return None


def sample_next_token(
    logits: Tensor, temperature: float, top_k: int | None, top_p: float | None, generator: torch.Generator
) -> Tensor:
    """Draw one token per row from logits ``(B, V)`` → ``(B, 1)``; exactly one random draw per call."""
    if temperature == 0:
        return logits.argmax(dim=-1, keepdim=True)
    if temperature != 1.0:
        logits = logits / temperature
    if top_k is not None and top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and top_p < 1.0:
        sorted_logits, order = torch.sort(logits, descending=True, dim=-1)
        cumulative = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
        # Drop a token when the tokens before it already reach top_p; the most likely token always stays.
        drop = (cumulative - sorted_logits.softmax(dim=-1)) >= top_p
        sorted_logits = sorted_logits.masked_fill(drop, float("-inf"))
        logits = torch.full_like(logits, float("-inf")).scatter(-1, order, sorted_logits)
    # Inverse-CDF draw: one uniform number per row. torch.multinomial draws V exponential numbers per row instead,
    # which cost more than a whole WaveNet-lite step at batch 1. Searching to the right never lands on a token of
    # probability 0 (its cumulative value equals its predecessor's).
    cumulative = logits.softmax(dim=-1).cumsum_(dim=-1)  # (B, V)
    draw = torch.rand(logits.shape[0], 1, generator=generator, device=logits.device) * cumulative[:, -1:]
    return torch.searchsorted(cumulative, draw, right=True).clamp_(max=logits.shape[-1] - 1)


def parameter_groups(module: nn.Module) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """Trainable parameters split into (decayed, not decayed): biases, norms and embeddings are not decayed."""
    decay: dict[int, nn.Parameter] = {}
    no_decay: dict[int, nn.Parameter] = {}
    for submodule in module.modules():
        for name, param in submodule.named_parameters(recurse=False):
            if not param.requires_grad:
                continue
            if isinstance(submodule, _NO_DECAY) or name.endswith("bias") or param.dim() < 2:
                no_decay[id(param)] = param
            else:
                decay.setdefault(id(param), param)
    # A tied weight (embedding = output layer) is seen twice; the embedding's no-decay rule wins.
    for key in no_decay:
        decay.pop(key, None)
    return list(decay.values()), list(no_decay.values())

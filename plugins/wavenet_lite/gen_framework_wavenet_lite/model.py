"""WaveNet-lite: a small WaveNet (van den Oord et al. 2016) over 8-bit mu-law audio, with fast generation.

Reads top to bottom: :class:`ResidualLayer` (one dilated causal convolution with a gated unit, residual and
skip outputs), :class:`StepWeights` and :class:`WaveNetCache` (the weight layout and per-layer queues of fast
generation), then :class:`WaveNetLite`, the Lightning module. The training loop, the loss (cross-entropy over
the V mu-law codes, logged as bits per sample), the optimiser and the sampling loop belong to
:class:`~gen_framework.families.AutoregressiveModule`; this file provides the network and its incremental
decoding.

Network, for codes ``x`` ``(B, T)``::

    one-hot x -> causal convolution (input_kernel_size taps) -> h_0                       (B, T, R)
    for each layer l, dilation d_l in 1, 2, 4, ..., 2^(layers_per_stack-1), repeated `stacks` times:
        z_l = tanh(W_f [h_{l-1}(t-d), h_{l-1}(t)] + V_f c) * sigmoid(W_g [h_{l-1}(t-d), h_{l-1}(t)] + V_g c)
        h_l = h_{l-1} + W_r z_l          skip_l = W_s z_l
    logits = W_2 relu(W_1 relu(sum_l skip_l))                                                (B, T, V)

Every dilated convolution has kernel size 2, so it is a linear map of the pair ``[h(t - d), h(t)]``; the
receptive field is ``(input_kernel_size - 1) + stacks * (2^layers_per_stack - 1) + 1`` samples.

Fast generation (Paine et al. 2016, "Fast Wavenet Generation Algorithm"): layer l only ever needs its input
from ``d_l`` steps ago, so each layer keeps a queue (a ring of ``d_l + 1`` slots) of its last inputs.
Producing one sample reads the oldest entry and writes the newest in every layer: O(layers) work per sample
instead of O(receptive field) for recomputing the whole window. The queues slide by themselves, hence
``cache_slides = True``.

Shapes: ``B`` batch, ``T`` time steps, ``R`` residual channels, ``D`` dilation (gate) channels, ``S`` skip
channels, ``L`` number of dilated layers, ``V`` mu-law levels (256).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from pytorch_lightning.utilities import rank_zero_info
from torch import Tensor, nn

from gen_framework.data import mu_law_decode, mu_law_encode
from gen_framework.errors import ConfigError
from gen_framework.families import AutoregressiveModule

DEFAULT_SAMPLE_RATE = 16000  # Hz, when the data spec does not say (the audio datamodules' default)


class ResidualLayer(nn.Module):
    """One dilated layer: kernel-2 causal convolution, gated tanh·sigmoid unit, residual and skip 1×1 outputs.

    Args:
        residual_channels: R, width of the residual stream.
        dilation_channels: D, width of the gated unit.
        skip_channels: S, width of the skip output.
        dilation: d, distance in samples between the two taps of the convolution.
        last: the last layer has no residual output (nothing reads it, and an unused weight would break DDP).
    """

    def __init__(
        self, residual_channels: int, dilation_channels: int, skip_channels: int, dilation: int, last: bool
    ) -> None:
        super().__init__()
        self.dilation = dilation
        # taps [h(t - d), h(t)] -> filter and gate pre-activations, both D wide
        self.conv = nn.Linear(2 * residual_channels, 2 * dilation_channels)
        self.skip = nn.Linear(dilation_channels, skip_channels)
        self.residual = None if last else nn.Linear(dilation_channels, residual_channels)

    def forward(self, x: Tensor, past: Tensor, condition_bias: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """One layer on ``x`` ``(B, T, R)`` given ``past`` ``(B, T, R)``, the layer's input ``d`` steps earlier.

        Args:
            condition_bias: ``(B, 1, 2D)`` global-conditioning term added to both pre-activations, or ``None``.

        Returns:
            The residual stream ``(B, T, R)`` for the next layer and this layer's skip output ``(B, T, S)``.
        """
        h = self.conv(torch.cat([past, x], dim=-1))  # (B, T, 2D)
        if condition_bias is not None:
            h = h + condition_bias
        filt, gate = h.chunk(2, dim=-1)
        z = torch.tanh(filt) * torch.sigmoid(gate)  # (B, T, D)
        return (x if self.residual is None else x + self.residual(z)), self.skip(z)


@dataclass
class StepWeights:
    """The weights laid out for one-sample steps, where each tensor operation's overhead, not its arithmetic, is
    the cost; derived from the module's weights when a cache is made.

    Two rewrites save operations. ``tanh(a) = 2 sigmoid(2a) - 1``, so with the filter rows of the convolution
    doubled one sigmoid serves both halves, and ``z = tanh(a) sigmoid(g) = 2 p - s`` with ``s = sigmoid(g)`` and
    ``p = sigmoid(2a) s``; a layer's residual and skip outputs are then linear in ``[p, s, 1]``, whose weights
    ``[2W; -W; b]`` also fold the bias in.

    Attributes:
        input_table: ``(K * (V + 1), R)`` the input convolution's taps stacked, so one lookup reads every tap.
        input_offsets: int64 ``(K,)`` row offset of the tap that reads each of the last K codes.
        conv: per layer, the transposed convolution weight ``(2R, 2D)`` and its bias plus the conditioning
            term ``(B or 1, 2D)``, filter rows doubled.
        residual: per layer but the last, ``(2D + 1, R)`` acting on ``[p, s, 1]``.
        skip: ``(L, 2D + 1, S)`` acting on each layer's ``[p, s, 1]``.
        head: the output layers' transposed weights and biases: ``(S, S)``, ``(S,)``, ``(S, V)``, ``(V,)``.
    """

    input_table: Tensor
    input_offsets: Tensor
    conv: list[tuple[Tensor, Tensor]]
    residual: list[Tensor]
    skip: Tensor
    head: tuple[Tensor, Tensor, Tensor, Tensor]


@dataclass
class WaveNetCache:
    """State of incremental generation for a batch of B sequences.

    Layer l keeps a ring of ``d_l + 1`` slots. With ``s = step`` and ``now`` the time of the next input, slot
    ``(s + 1 + i) % (d_l + 1)`` holds the layer's input at time ``now - d_l + i`` for ``i`` in ``[0, d_l)``,
    and slot ``s % (d_l + 1)`` receives the input at time ``now``: a step reads the oldest entry and writes
    the newest, one of each per layer. Before the first sample every entry is zero, the same as the zero
    padding of the full forward pass.

    Attributes:
        tokens: int64 ``(B, input_kernel_size - 1)`` the last codes, ``V`` (the "no code" index) before the start.
        rings: per dilated layer, float ``(d_l + 1, B, R)``.
        slots: per layer, the ``(B, R)`` view of each ring slot (made once; a step writes through them).
        gates: ``(L, B, 2D + 1)`` each layer's ``[p, s, 1]`` of the current step (see :class:`StepWeights`).
        gate_views: per layer, views of its gates: all ``(B, 2D + 1)``, pre-activations ``(B, 2D)``, and the
            ``(B, D)`` halves p and s.
        condition_bias: ``(B, 1, L, 2D)`` global-conditioning terms, or ``None``.
        weights: the weights as the step reads them: a cache belongs to the weights and labels it was made with.
        step: steps since the rings were last laid out in time order.
    """

    tokens: Tensor
    rings: list[Tensor]
    slots: list[list[Tensor]]
    gates: Tensor
    gate_views: list[tuple[Tensor, Tensor, Tensor, Tensor]]
    condition_bias: Tensor | None
    weights: StepWeights
    step: int = 0


class WaveNetLite(AutoregressiveModule):
    """A small WaveNet over mu-law codes, with queue-based O(layers)-per-sample generation.

    The default (R=D=64, S=128, one stack of 10 layers: receptive field 1,025 samples = 64 ms at 16 kHz)
    generates about 60x faster with its queues than by recomputing the receptive field; see the plugin README for
    the measured numbers.

    ``sample()`` returns waveforms ``(N, T)`` in [-1, 1]; see :meth:`generate_samples` for the options.

    Args:
        residual_channels: R, width of the residual stream.
        dilation_channels: D, width of the gated units.
        skip_channels: S, width of the skip outputs and of the hidden output layer.
        layers_per_stack: dilated layers per stack, with dilations 1, 2, ..., 2^(layers_per_stack - 1); 1-16.
        stacks: how many times the dilation pattern repeats.
        input_kernel_size: taps of the causal input convolution over the one-hot codes.
        num_labels: number of global-conditioning labels (timbre, speaker); 0 for an unconditional model. A
            conditional model is trained on ``(codes, label)`` batches and sampled with a label.
        **kwargs: Options of :class:`AutoregressiveModule` (``vocab_size`` — taken from the data's
            quantisation levels when unset —, ``lr``, ``warmup_steps``, ``ema_decay``, ...).
    """

    modality = "audio"
    output_range = (-1.0, 1.0)
    cache_slides = True

    def __init__(
        self,
        residual_channels: int = 64,
        dilation_channels: int = 64,
        skip_channels: int = 128,
        layers_per_stack: int = 10,
        stacks: int = 1,
        input_kernel_size: int = 2,
        num_labels: int = 0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        for name, value, low, high in (
            ("residual_channels", residual_channels, 1, None),
            ("dilation_channels", dilation_channels, 1, None),
            ("skip_channels", skip_channels, 1, None),
            ("layers_per_stack", layers_per_stack, 1, 16),  # dilation 2^15 is already 2 s at 16 kHz
            ("stacks", stacks, 1, None),
            ("input_kernel_size", input_kernel_size, 1, None),
            ("num_labels", num_labels, 0, None),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < low or (high and value > high):
                accepted = f"in [{low}, {high}]" if high else f">= {low}"
                raise ConfigError(f"WaveNetLite: {name} must be an integer {accepted}, got {value!r}")
        self.residual_channels = residual_channels
        self.dilation_channels = dilation_channels
        self.skip_channels = skip_channels
        self.layers_per_stack = layers_per_stack
        self.stacks = stacks
        self.input_kernel_size = input_kernel_size
        self.num_labels = num_labels
        self.dilations = [2**i for i in range(layers_per_stack)] * stacks
        self.ensure_network()

    def build_network(self, vocab_size: int) -> None:
        R, D, S, L = self.residual_channels, self.dilation_channels, self.skip_channels, len(self.dilations)
        # A causal convolution over one-hot codes is a sum of per-tap embedding rows; row V stands for "no code"
        # before the start and stays zero, like zero padding.
        self.input_conv = nn.Embedding(vocab_size + 1, self.input_kernel_size * R, padding_idx=vocab_size)
        self.layers = nn.ModuleList(
            ResidualLayer(R, D, S, d, last=i == L - 1) for i, d in enumerate(self.dilations)
        )
        self.condition = nn.Embedding(self.num_labels, L * 2 * D) if self.num_labels else None
        self.head = nn.Sequential(nn.ReLU(), nn.Linear(S, S), nn.ReLU(), nn.Linear(S, vocab_size))

    # ------------------------------------------------------------ properties

    @property
    def receptive_field(self) -> int:
        """Samples the prediction of the next one depends on (the current one included)."""
        return (self.input_kernel_size - 1) + sum(self.dilations) + 1

    @property
    def sample_rate(self) -> int:
        """Sample rate in Hz of the data the model was (or will be) trained on; 16000 when unknown."""
        return int(self.data_spec.get("sample_rate", DEFAULT_SAMPLE_RATE))

    @property
    def receptive_field_ms(self) -> float:
        """The receptive field in milliseconds at :attr:`sample_rate`."""
        return 1000.0 * self.receptive_field / self.sample_rate

    @property
    def context_size(self) -> int:
        return self.receptive_field

    # ---------------------------------------------------------------- network

    def _embed(self, codes: Tensor, T: int) -> Tensor:
        """Causal input convolution: ``codes`` ``(B, K - 1 + T)`` (history first) -> ``(B, T, R)``."""
        K, R = self.input_kernel_size, self.residual_channels
        taps = self.input_conv(codes).view(codes.shape[0], codes.shape[1], K, R)
        # tap j reads the code j steps back
        return sum(taps[:, K - 1 - j : K - 1 - j + T, j] for j in range(K))

    def _condition_bias(self, condition: Tensor | None, batch_size: int) -> Tensor | None:
        """``(B, 1, L, 2D)`` conditioning terms of labels ``condition`` ``(B,)``; checks they fit the model."""
        if condition is None:
            if self.num_labels:
                raise ConfigError(
                    f"WaveNetLite was built with num_labels={self.num_labels}: pass a label per sequence as condition"
                )
            return None
        if not self.num_labels:
            raise ConfigError(
                "WaveNetLite got labels but was built with num_labels=0; set model.init_args.num_labels to the "
                "number of labels of the data"
            )
        condition = torch.as_tensor(condition, device=self.device).long().reshape(-1)
        if condition.shape[0] != batch_size:
            raise ConfigError(f"condition must hold one label per sequence ({batch_size}), got {condition.shape[0]}")
        if condition.min() < 0 or condition.max() >= self.num_labels:
            raise ConfigError(
                f"labels must be in [0, {self.num_labels}) for num_labels={self.num_labels}, got "
                f"[{int(condition.min())}, {int(condition.max())}]"
            )
        bias = self.condition(condition)  # (B, L * 2D)
        return bias.view(batch_size, 1, len(self.layers), 2 * self.dilation_channels)

    def forward(self, tokens: Tensor, condition: Tensor | None = None) -> Tensor:
        """Next-code logits for every position.

        Args:
            tokens: int64 ``(B, T)`` mu-law codes in ``[0, V)``.
            condition: int64 ``(B,)`` labels in ``[0, num_labels)`` for a conditional model, else ``None``.

        Returns:
            ``(B, T, V)`` logits; position t depends only on codes at positions ``t - receptive_field + 1 .. t``.
        """
        self._require_network()
        B, T = tokens.shape
        bias = self._condition_bias(condition, B)
        x = self._embed(F.pad(tokens, (self.input_kernel_size - 1, 0), value=self.vocab_size), T)  # (B, T, R)
        skip = 0.0
        for i, layer in enumerate(self.layers):
            past = F.pad(x, (0, 0, layer.dilation, 0))[:, :T]  # (B, T, R), zeros before the start
            x, s = layer(x, past, None if bias is None else bias[:, :, i])
            skip = skip + s
        return self.head(skip)

    # ------------------------------------------------------- fast generation

    def init_cache(self, batch_size: int, condition: Tensor | None = None) -> WaveNetCache:
        """Called when cached generation starts: empty rings (zeros) for ``batch_size`` sequences."""
        self._require_network()
        bias = self._condition_bias(condition, batch_size)
        table = self.input_conv.weight  # (V + 1, K * R)
        K, V1, R, D = self.input_kernel_size, table.shape[0], self.residual_channels, self.dilation_channels
        double = torch.cat([table.new_full((D,), 2.0), table.new_ones(D)])  # doubles the filter rows
        conv = []
        for i, layer in enumerate(self.layers):
            conv_bias = layer.conv.bias[None] if bias is None else layer.conv.bias + bias[:, 0, i]
            conv.append(((layer.conv.weight * double[:, None]).t(), conv_bias * double))

        def on_gates(linear: nn.Linear) -> Tensor:
            """``(2D + 1, out)`` weights acting on ``[p, s, 1]`` that reproduce ``linear(z)``."""
            weight = linear.weight.t()
            return torch.cat([2 * weight, -weight, linear.bias[None]])

        weights = StepWeights(
            input_table=table.view(V1, K, R).transpose(0, 1).reshape(K * V1, R),
            # code i of the last K is read by tap K - 1 - i
            input_offsets=torch.arange(K - 1, -1, -1, device=table.device) * V1,
            conv=conv,
            residual=[on_gates(layer.residual) for layer in self.layers if layer.residual is not None],
            skip=torch.stack([on_gates(layer.skip) for layer in self.layers]),
            head=(self.head[1].weight.t(), self.head[1].bias, self.head[3].weight.t(), self.head[3].bias),
        )
        rings = [table.new_zeros(d + 1, batch_size, R) for d in self.dilations]
        gates = table.new_zeros(len(self.layers), batch_size, 2 * D + 1)
        gates[..., -1] = 1.0
        return WaveNetCache(
            tokens=torch.full((batch_size, K - 1), self.vocab_size, dtype=torch.long, device=table.device),
            rings=rings,
            slots=[list(ring.unbind(0)) for ring in rings],
            gates=gates,
            gate_views=[(g, g[:, : 2 * D], g[:, :D], g[:, D : 2 * D]) for g in gates.unbind(0)],
            condition_bias=bias,
            weights=weights,
        )

    def forward_cached(self, tokens: Tensor, cache: WaveNetCache) -> Tensor:
        """Called with codes ``(B, T)`` that continue the sequence held by ``cache``; updates ``cache``.

        One code (T = 1) costs one ring read and write per layer (:meth:`_step`). Longer chunks (a prompt)
        lay the rings out in time order and run the layers over the chunk at once.

        Returns:
            ``(B, T, V)`` logits, equal to float precision to the last T positions of :meth:`forward` over the
            whole sequence.
        """
        T = tokens.shape[1]
        codes = torch.cat([cache.tokens, tokens], dim=1)  # (B, K - 1 + T)
        cache.tokens = codes[:, T:]
        if T == 1:
            return self._step(codes, cache)
        x = self._embed(codes, T)  # (B, T, R)
        skip = 0.0
        bias = cache.condition_bias
        for i, layer in enumerate(self.layers):
            d, ring = layer.dilation, cache.rings[i]
            history = ring.roll(-(cache.step + 1), dims=0)[:d].transpose(0, 1)  # (B, d, R), times now-d .. now-1
            inputs = torch.cat([history, x], dim=1)  # (B, d + T, R)
            ring[1:] = inputs[:, T:].transpose(0, 1)  # in time order, as the invariant reads with step = 0
            x, s = layer(x, inputs[:, :T], None if bias is None else bias[:, :, i])
            skip = skip + s
        cache.step = 0
        return self.head(skip)

    def _step(self, codes: Tensor, cache: WaveNetCache) -> Tensor:
        """The network at one new position from ``codes`` ``(B, K)``, the last K codes, and the rings.

        The arithmetic of :meth:`forward` on ``(B, R)`` rows in five tensor operations per layer, results
        written straight into the ring slots and gate buffers (see :class:`StepWeights`).

        Returns:
            ``(B, 1, V)`` logits.
        """
        w, step, slots = cache.weights, cache.step, cache.slots
        x = torch.sum(F.embedding(codes + w.input_offsets, w.input_table), dim=1, out=slots[0][step % len(slots[0])])
        for i, ((conv_weight, conv_bias), (gates, pre, p, s)) in enumerate(zip(w.conv, cache.gate_views)):
            ring = slots[i]
            past = ring[(step + 1) % len(ring)]  # (B, R) the input d steps ago
            torch.addmm(conv_bias, torch.cat([past, x], dim=1), conv_weight, out=pre)
            pre.sigmoid_()
            p.mul_(s)  # gates = [p, s, 1]
            if i < len(w.residual):
                following = slots[i + 1]
                x = torch.addmm(x, gates, w.residual[i], out=following[step % len(following)])
        cache.step += 1
        skip = torch.bmm(cache.gates, w.skip).sum(dim=0)  # (B, S)
        w1, b1, w2, b2 = w.head
        hidden = torch.addmm(b1, skip.relu_(), w1).relu_()
        return torch.addmm(b2, hidden, w2)[:, None]

    # -------------------------------------------------------------- sampling

    def default_prompt(self) -> list[int]:
        """Called when sampling without a prompt: one code of silence (``V // 2`` for mu-law)."""
        self._require_network()
        return [int(mu_law_encode(torch.zeros(1), self.vocab_size))]

    def decode_tokens(self, tokens: Tensor) -> Tensor:
        """Called on generated codes ``(N, T)``: the waveform float32 ``(N, T)`` in [-1, 1] (mu-law expansion)."""
        return mu_law_decode(tokens, self.vocab_size)

    def generate_samples(
        self,
        num_samples: int,
        *,
        generator: torch.Generator,
        seconds: float = 1.0,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        label: int | None = None,
        use_cache: bool = True,
    ) -> Tensor:
        """``num_samples`` waveforms of ``seconds`` at the data's sample rate, each starting from silence.

        Args:
            seconds: Duration of each waveform, > 0; the waveforms hold ``round(seconds * sample_rate)`` samples.
            temperature: Softmax temperature, >= 0; below 1 gives cleaner, less varied audio, 0 is greedy.
            top_k: Keep only the k most likely codes.
            top_p: Nucleus sampling threshold in (0, 1].
            label: Label of every waveform for a conditional model; ``None`` gives waveform i label
                ``i % num_labels``. Must be ``None`` for an unconditional model.
            use_cache: Fast queue-based generation (without top-k / top-p: the scripted loop of
                :func:`~gen_framework_wavenet_lite.fast_generation.fast_generate`); ``False`` recomputes the receptive field for every sample
                (same samples for the same seed, much slower).

        Returns:
            float32 ``(N, round(seconds * sample_rate))`` in [-1, 1].
        """
        if seconds <= 0 or not math.isfinite(seconds):
            raise ConfigError(f"seconds must be > 0, got {seconds}")
        length = max(1, round(seconds * self.sample_rate))
        prompt = torch.tensor(self.default_prompt(), device=self.device).repeat(num_samples, 1)
        labels = self._sampling_labels(num_samples, label)
        if (
            use_cache and top_k is None and top_p is None and temperature >= 0
            and self.input_conv.weight.dtype == torch.float32
        ):
            # the scripted loop over preallocated buffers: the same codes as generate() below, ~2.5x faster
            # (float32 only: its sampling buffers are float32, as the family's sampler casts the logits)
            from gen_framework_wavenet_lite.fast_generation import fast_generate

            tokens = fast_generate(
                self, prompt, max(0, length - prompt.shape[1]), generator=generator, temperature=temperature,
                condition=labels,
            )
            return self.decode_tokens(tokens[:, :length])
        tokens = self.generate(
            prompt,
            max(0, length - prompt.shape[1]),
            temperature=temperature,
            top_k=top_k,
            top_p=top_p,
            use_cache=use_cache,
            generator=generator,
            condition=labels,
        )
        return self.decode_tokens(tokens[:, :length])

    def _sampling_labels(self, num_samples: int, label: int | None) -> Tensor | None:
        if not self.num_labels:
            if label is not None:
                raise ConfigError(f"label={label} needs a conditional model; this one has num_labels=0")
            return None
        if label is None:
            return torch.arange(num_samples, device=self.device) % self.num_labels
        if not 0 <= label < self.num_labels:
            raise ConfigError(f"label must be in [0, {self.num_labels}), got {label}")
        return torch.full((num_samples,), label, dtype=torch.long, device=self.device)

    # ------------------------------------------------------ data and logging

    def ema_module_names(self) -> list[str]:
        """Called when the EMA is built (``ema_decay`` set): every part of the network is averaged."""
        return ["input_conv", "layers", "head"] + (["condition"] if self.num_labels else [])

    def adopt_data_spec(self, spec: dict[str, Any]) -> None:
        """Called in ``setup``: takes V from the data's quantisation and checks its labels match ``num_labels``."""
        super().adopt_data_spec(spec)
        data_labels = int(spec.get("num_labels") or 0)
        if data_labels != self.num_labels:
            if data_labels:
                raise ConfigError(
                    f"the datamodule provides {data_labels} labels but WaveNetLite has num_labels={self.num_labels}; "
                    f"set model.init_args.num_labels: {data_labels}"
                )
            raise ConfigError(
                f"WaveNetLite has num_labels={self.num_labels} but the datamodule provides no labels; "
                "set model.init_args.num_labels: 0 or use labelled data"
            )

    def on_fit_start(self) -> None:
        """Called when fitting starts: reports the receptive field in samples and milliseconds."""
        rank_zero_info(
            f"WaveNetLite: receptive field {self.receptive_field} samples = {self.receptive_field_ms:.1f} ms at "
            f"{self.sample_rate} Hz ({len(self.dilations)} dilated layers)"
        )
        if self.logger is not None:
            metrics = {"model/receptive_field_samples": self.receptive_field}
            self.logger.log_metrics({**metrics, "model/receptive_field_ms": self.receptive_field_ms}, step=0)

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        super().on_train_batch_end(outputs, batch, batch_idx)
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        # bits per token are bits per sample for mu-law audio; the audio name makes curves easier to read
        if self.is_logging_step:
            self.log("train/bits_per_sample", loss.detach() / math.log(2))

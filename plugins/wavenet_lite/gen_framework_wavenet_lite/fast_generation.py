"""Real-time WaveNet-lite generation: the whole sampling loop over preallocated buffers, scripted when possible.

At batch 1 a generation step does about 180 kFLOP, 2 µs of arithmetic on one core; what costs is the number of
tensor operations and the Python around each. :func:`fast_generate` therefore runs the loop of
:meth:`AutoregressiveModule.generate` for WaveNet-lite without modules, allocations or per-step slicing:

* every layer keeps a ring ``(B, d + 2, R + C)`` whose rows are ``[h, one-hot label]`` (C = number of labels, 1
  for an unconditional model); the input at time t goes to slot ``j = t mod (d + 1)`` (and, when ``j = 0``, also
  to the spare slot ``d + 1``), so the two taps ``[h(t), label, h(t - d), label]`` are always the adjacent slots
  ``j, j + 1``: one contiguous view feeds ONE matrix product for both taps and the label's bias (a plain product
  costs half an ``addmm`` at these sizes), with no concatenation;
* the gated unit is one sigmoid and one ``addcmul``: with the filter rows doubled, ``[q, s] = sigmoid([2a, g])``
  and ``-z = -tanh(a) sigmoid(g) = s - 2qs``; the residual output is one product on ``[-z, 1]`` and an add into
  the next layer's ring, and the skip outputs of all layers ONE product over every layer's ``[-z, 1]``; the
  output layers' biases ride in their products too;
* the draw is the family's inverse-CDF sampler (:func:`~gen_framework.families.autoregressive.sample_next_token`)
  with the uniform numbers drawn up front: the generator yields the same numbers in one call as in one call per
  step, so the tokens are those of ``generate`` for the same seed.

The loop is compiled with TorchScript when it is available (once per process, about a second), which removes
Python's cost between operations; otherwise the same function runs eagerly, slower but with the same result.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import torch
from torch import Tensor

if TYPE_CHECKING:
    from gen_framework_wavenet_lite.model import WaveNetLite


def _loop(
    tokens: Tensor,
    uniforms: Tensor,
    start: int,
    input_table: Tensor,
    input_offsets: Tensor,
    windows: list[list[Tensor]],
    writes: list[list[Tensor]],
    mirrors: list[Tensor],
    conv_weights: list[Tensor],
    pre: Tensor,
    q: Tensor,
    s: Tensor,
    z_views: list[Tensor],
    gate_rows: list[Tensor],
    residual_weights: list[Tensor],
    gates: Tensor,
    skip_weight: Tensor,
    head: list[Tensor],
    buffers: list[Tensor],
    temperature: float,
    first: int,
) -> None:
    """Fills ``tokens[first:]`` (``tokens`` int64 ``(T, B, 1)``, time first) one code at a time.

    ``tokens[:first]`` holds K - 1 rows of the "no code" index V, then the prompt; step t (from ``start = K``)
    reads codes ``tokens[t - K : t]``, pushes the layers' inputs into the rings (all zeros at first, like the
    zero padding of the full forward) and, from ``first`` on, draws ``tokens[t]`` with ``uniforms[t]``
    ``(B, 1)``.
    ``windows[l][j]`` is the ``(B, 2(R + C))`` view of ring slots ``j, j + 1`` of layer l, ``writes[l][j]`` the
    ``(B, R)`` view of slot j's h, ``mirrors[l]`` that of slot ``d + 1``; ``pre`` ``(B, 2D)`` with halves ``q``
    and ``s``; ``z_views[l]`` ``(B, D)`` and ``gate_rows[l]`` ``(B, D + 1)`` views of ``gates`` ``(B, L (D + 1))``
    holding each layer's ``[-z, 1]``. ``buffers``: ``[index (K, B, 1), taps (K * B, R), [skip, 1] (B, S + 1),
    [hidden, 1] (B, S + 1), logits (B, V), cumulative (B, V), draw (B, 1), cumulative's last column (B, 1),
    skip (B, S), hidden (B, S)]`` (the last two views of the third and fourth). Nothing is allocated per step but
    a few views of ``tokens`` and ``uniforms``.
    """
    index, taps, skip_ones, hidden_ones, logits, cumulative, draw, last, skip, hidden = buffers
    flat_index = index.view(-1)
    w1, w2 = head[0], head[1]
    K = input_offsets.shape[0]
    B = tokens.shape[1]
    R = input_table.shape[1]
    V = logits.shape[1]
    num_layers = len(conv_weights)
    last_layer = num_layers - 1
    sizes = [len(w) for w in windows]
    for t in range(start, tokens.shape[0]):
        # the input convolution over the last K codes: one table row per tap, summed into the first ring
        torch.add(tokens[t - K : t], input_offsets, out=index)
        torch.index_select(input_table, 0, flat_index, out=taps)
        j = t % sizes[0]
        torch.sum(taps.view(K, B, R), 0, out=writes[0][j])
        if j == 0:
            mirrors[0].copy_(writes[0][0])
        for i in range(num_layers):
            # both taps [h(t), h(t - d)] and the bias (with the label's conditioning term) in one product
            torch.mm(windows[i][j], conv_weights[i], out=pre)
            pre.sigmoid_()  # [q, s] = [sigmoid(2a), sigmoid(g)]
            # -z = -tanh(a) sigmoid(g) = s - 2 q s in one operation; the outputs' weights are negated to match
            torch.addcmul(s, q, s, value=-2.0, out=z_views[i])
            if i < last_layer:
                following = t % sizes[i + 1]
                x = writes[i + 1][following]
                torch.mm(gate_rows[i], residual_weights[i], out=x)  # a product and an add cost less than addmm
                x.add_(writes[i][j])
                if following == 0:
                    mirrors[i + 1].copy_(x)
                j = following
        if t < first:
            continue  # tokens[t] is a prompt code: the step only fills the rings
        torch.mm(gates, skip_weight, out=skip)  # every layer's skip output, biases included, summed
        torch.mm(skip_ones.relu_(), w1, out=hidden)  # [relu(skip), 1] @ [W1; b1]
        torch.mm(hidden_ones.relu_(), w2, out=logits)
        chosen = tokens[t]
        if temperature == 0.0:
            torch.argmax(logits, 1, True, out=chosen)
        else:
            if temperature != 1.0:
                logits.div_(temperature)
            torch.softmax(logits, -1, out=cumulative)
            cumulative.cumsum_(-1)
            torch.mul(uniforms[t], last, out=draw)
            torch.searchsorted(cumulative, draw, right=True, out=chosen)
            chosen.clamp_(max=V - 1)


_compiled: dict[str, object] = {}


def compiled_loop():  # noqa: ANN201 - a TorchScript function or the plain one
    """:func:`_loop` compiled with TorchScript (once per process), or ``_loop`` itself where scripting fails."""
    if "loop" not in _compiled:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # TorchScript's deprecation notice: the eager fallback stays
                _compiled["loop"] = torch.jit.script(_loop)
        except Exception as error:  # noqa: BLE001 - any failure to script leaves the same loop, run eagerly
            warnings.warn(f"WaveNet-lite fast generation runs eagerly (TorchScript unavailable: {error})", stacklevel=2)
            _compiled["loop"] = _loop
    return _compiled["loop"]


@torch.no_grad()
def fast_generate(
    model: WaveNetLite,
    prompt: Tensor,
    max_new_tokens: int,
    *,
    generator: torch.Generator,
    temperature: float = 1.0,
    condition: Tensor | None = None,
    script: bool = True,
) -> Tensor:
    """Continue ``prompt`` int64 ``(B, T0)`` by ``max_new_tokens`` codes -> ``(B, T0 + max_new_tokens)``.

    The same tokens as ``model.generate(prompt, max_new_tokens, temperature=temperature, generator=generator,
    condition=condition)`` (no top-k / top-p), drawing the same random numbers from ``generator``.

    Args:
        script: Run the TorchScript-compiled loop (the default); ``False`` runs it eagerly.
    """
    weights = model.init_cache(prompt.shape[0], condition).weights
    B, T0 = prompt.shape
    K, R, D = model.input_kernel_size, model.residual_channels, model.dilation_channels
    L, V = len(model.dilations), model.vocab_size
    device, dtype = weights.input_table.device, weights.input_table.dtype
    first = K - 1 + T0  # buffer position of the first generated code
    tokens = torch.full((first + max_new_tokens, B, 1), V, dtype=torch.long, device=device)
    tokens[K - 1 : first, :, 0] = prompt.t()
    uniforms = torch.zeros(tokens.shape[0], B, 1, device=device, dtype=torch.float32)
    if temperature != 0 and max_new_tokens:
        # one (B, 1) draw per generated code, as the family's sampler makes them: the same numbers
        uniforms[first:] = torch.rand(max_new_tokens, B, 1, generator=generator, device=device)
    # a ring row is [h (R), one-hot label (C)]: the product of a window with [W_now; bias rows; W_past; 0] adds
    # the label's bias, so the convolutions need no separate bias (addmm costs twice a plain product here)
    C = max(1, model.num_labels)
    labels = torch.zeros(B, dtype=torch.long, device=device) if condition is None else condition.reshape(-1).long()
    rings = []
    for d in model.dilations:
        ring = torch.zeros(B, d + 2, R + C, device=device, dtype=dtype)
        ring[:, :, R:] = torch.nn.functional.one_hot(labels, C).to(dtype)[:, None]
        rings.append(ring)
    # each layer's [-z, 1]; the residual and skip outputs act on it with weights [-W; b]
    gates = torch.zeros(B, L, D + 1, device=device, dtype=dtype)
    pre = torch.empty(B, 2 * D, device=device, dtype=dtype)
    gates[..., -1] = 1.0
    S = weights.skip.shape[-1]
    # [skip, 1] and [hidden, 1]: the output layers' biases ride in their products (relu keeps the 1)
    skip_ones = torch.ones(B, S + 1, device=device, dtype=dtype)
    hidden_ones = torch.ones(B, S + 1, device=device, dtype=dtype)
    cumulative = torch.empty(B, V, device=device, dtype=torch.float32)
    buffers = [
        torch.empty(K, B, 1, dtype=torch.long, device=device),
        torch.empty(K * B, R, device=device, dtype=dtype),
        skip_ones,
        hidden_ones,
        torch.empty(B, V, device=device, dtype=dtype),
        cumulative,
        torch.empty(B, 1, device=device, dtype=torch.float32),
        cumulative[:, V - 1 :],
        skip_ones[:, :S],
        hidden_ones[:, :S],
    ]
    # the convolution reads the window [h(t), label, h(t - d), label]: its weight rows reordered from
    # [h(t - d), h(t)], with the bias of each label (filter half doubled, as in StepWeights) after h(t)
    double = torch.cat([torch.full((D,), 2.0, dtype=dtype, device=device), torch.ones(D, dtype=dtype, device=device)])
    conv_weights = []
    for i, (w, _) in enumerate(weights.conv):
        layer_bias = model.layers[i].conv.bias
        if model.condition is not None:
            bias_rows = (layer_bias + model.condition.weight.view(C, L, 2 * D)[:, i]) * double  # (C, 2D)
        else:
            bias_rows = (layer_bias * double)[None]
        conv_weights.append(torch.cat([w[R:], bias_rows, w[:R], torch.zeros_like(bias_rows)]))
    w1, b1, w2, b2 = weights.head

    def on_negated_z(linear: torch.nn.Linear) -> Tensor:
        """``(D + 1, out)`` weights on ``[-z, 1]`` that reproduce ``linear(z)``."""
        return torch.cat([-linear.weight.t(), linear.bias[None]])

    head = [torch.cat([w1, b1[None]]), torch.cat([w2, b2[None]])]
    loop = compiled_loop() if script else _loop
    # The default (profiling) executor instruments the first call of a scripted function, which would triple the
    # cost of every generation shorter than the second call; the loop has nothing for its optimiser anyway.
    with torch.jit.optimized_execution(False):
        loop(
            tokens,
            uniforms,
            K,
            weights.input_table,
            weights.input_offsets.view(K, 1, 1),
            [[ring[:, j : j + 2].view(B, 2 * (R + C)) for j in range(ring.shape[1] - 1)] for ring in rings],
            [[ring[:, j, :R] for j in range(ring.shape[1] - 1)] for ring in rings],
            [ring[:, -1, :R] for ring in rings],
            conv_weights,
            pre,
            pre[:, :D],
            pre[:, D:],
            [gates[:, i, :D] for i in range(L)],
            [gates[:, i] for i in range(L)],
            [on_negated_z(layer.residual) for layer in model.layers if layer.residual is not None],
            gates.view(B, L * (D + 1)),
            torch.cat([on_negated_z(layer.skip) for layer in model.layers]),
            head,
            buffers,
            float(temperature),
            first,
        )
    return tokens[K - 1 :, :, 0].t().contiguous()

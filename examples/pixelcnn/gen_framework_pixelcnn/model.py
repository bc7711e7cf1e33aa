"""A gated PixelCNN (van den Oord et al. 2016, "Conditional Image Generation with PixelCNN Decoders") over
greyscale images quantised to V levels, as a plugin of the autoregressive family.

The family sees a pixel image as a token sequence: ``tokens_from_batch`` quantises ``(B, 1, S, S)`` images in
[-1, 1] to V levels and lays the pixels out in raster order after a start token, ``(B, 1 + S·S)``. The base
trains ``forward(tokens[:, :-1])`` to predict ``tokens[:, 1:]``: the logits at position t predict pixel t from
the pixels before it. ``decode_tokens`` turns generated sequences back into images.

Network: a vertical stack (what lies above the current row) and a horizontal stack (what lies to the left in
the current row), each layer a gated unit tanh(a)·σ(b); the vertical stack feeds the horizontal one shifted
down a row, so the receptive field has no blind spot and never reaches the current pixel or any later one.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gen_framework.errors import ConfigError
from gen_framework.families import AutoregressiveModule


class GatedPixelCNN(AutoregressiveModule):
    """Gated PixelCNN over ``(B, 1, S, S)`` images quantised to ``vocab_size`` grey levels.

    Args:
        image_size: Side S of the square images.
        vocab_size: Grey levels V (2 binarises). A family option, declared here to change its default.
        hidden: Channels of both stacks.
        layers: Gated layers.
        kernel: Width of the (odd) convolution windows.
        lr: AdamW learning rate (the family's option, with this model's default).
    """

    modality: ClassVar[str] = "image"
    output_range: ClassVar[tuple[float, float]] = (-1.0, 1.0)
    #: ``genfw test`` draws this many samples by default: each one costs S·S network passes.
    evaluation_num_samples: ClassVar[int] = 200

    def __init__(
        self,
        image_size: int = 8,
        vocab_size: int | None = 4,
        hidden: int = 32,
        layers: int = 5,
        kernel: int = 3,
        lr: float = 3e-3,
        **kwargs: Any,
    ) -> None:
        super().__init__(vocab_size=vocab_size, lr=lr, **kwargs)
        if vocab_size is None:
            raise ConfigError("GatedPixelCNN: vocab_size (the number of grey levels) must be set, e.g. 4")
        if image_size < 2 or hidden < 1 or layers < 1 or kernel < 3 or kernel % 2 == 0:
            raise ConfigError(
                f"GatedPixelCNN: need image_size >= 2, hidden >= 1, layers >= 1 and an odd kernel >= 3; got "
                f"{image_size}, {hidden}, {layers}, {kernel}"
            )
        self.image_size, self.hidden, self.layers, self.kernel = image_size, hidden, layers, kernel
        self.ensure_network()

    # ------------------------------------------------------------ the network

    def build_network(self, vocab_size: int) -> None:
        self.embedding = nn.Embedding(vocab_size, self.hidden)
        self.stack = nn.ModuleList(
            GatedLayer(self.hidden, self.kernel, first=index == 0) for index in range(self.layers)
        )
        self.head = nn.Sequential(
            nn.ReLU(), nn.Conv2d(self.hidden, self.hidden, 1), nn.ReLU(), nn.Conv2d(self.hidden, vocab_size, 1)
        )

    @property
    def context_size(self) -> int:
        return 1 + self.image_size**2

    @property
    def max_sequence_length(self) -> int:
        return self.image_size**2

    def forward(self, tokens: Tensor, condition: Tensor | None = None) -> Tensor:
        """Start token and the first T-1 pixels ``(B, T)``, T ≤ S·S → logits ``(B, T, V)`` of pixels 0..T-1."""
        batch, length = tokens.shape
        pixels = self.image_size**2
        if length > pixels:
            raise ConfigError(f"GatedPixelCNN: at most {pixels} tokens per image (start token included), got {length}")
        # Pixels not yet known are 0: the masked convolutions never read them for the positions returned.
        grid = F.pad(tokens[:, 1:], (0, pixels - length + 1)).view(batch, self.image_size, self.image_size)
        x = self.embedding(grid).permute(0, 3, 1, 2)  # (B, hidden, S, S)
        vertical, horizontal = x, x
        for layer in self.stack:
            vertical, horizontal = layer(vertical, horizontal)
        logits = self.head(horizontal)  # (B, V, S, S)
        return logits.flatten(2).transpose(1, 2)[:, :length]  # (B, T, V), raster order

    # ------------------------------------------------------ the data adapter

    def tokens_from_batch(self, batch: Any) -> Tensor:
        """Images ``(B, 1, S, S)`` in [-1, 1] (or an ``(images, labels)`` pair) → ``(B, 1 + S·S)`` token ids."""
        images = batch[0] if isinstance(batch, tuple | list) else batch
        levels = self.vocab_size - 1
        quantised = ((images.float() + 1) * (levels / 2)).round().clamp_(0, levels).long().flatten(1)
        start = quantised.new_zeros(quantised.shape[0], 1)
        return torch.cat([start, quantised], dim=1)

    def condition_from_batch(self, batch: Any) -> Tensor | None:
        """Unconditional: the digits' labels are not used."""
        return None

    def decode_tokens(self, tokens: Tensor) -> Tensor:
        """Start token and S·S pixels ``(N, 1 + S·S)`` → images ``(N, 1, S, S)`` in [-1, 1]."""
        pixels = tokens[:, 1 : 1 + self.image_size**2].float()
        return (pixels * (2 / (self.vocab_size - 1)) - 1).view(-1, 1, self.image_size, self.image_size)

    def default_num_new_tokens(self) -> int:
        return self.image_size**2

    def built_data_spec(self) -> dict[str, Any]:
        return {"image_size": self.image_size, "channels": 1}


class GatedLayer(nn.Module):
    """One gated layer of both stacks: ``(vertical, horizontal)`` ``(B, h, S, S)`` each → the same shapes.

    The vertical output at row i sees rows ≤ i of its input; the horizontal stack receives it shifted down one
    row (rows < i) and adds its own view of the current row: columns < j in the first layer (the current pixel
    is not known yet), ≤ j afterwards (its features then describe earlier pixels only).
    """

    def __init__(self, hidden: int, kernel: int, *, first: bool) -> None:
        super().__init__()
        self.first, self.half = first, kernel // 2
        self.vertical = nn.Conv2d(hidden, 2 * hidden, (self.half + 1, kernel))
        self.horizontal = nn.Conv2d(hidden, 2 * hidden, (1, self.half + 1))
        self.link = nn.Conv2d(2 * hidden, 2 * hidden, 1)
        self.out = nn.Conv2d(hidden, hidden, 1)

    def forward(self, vertical: Tensor, horizontal: Tensor) -> tuple[Tensor, Tensor]:
        height, width = vertical.shape[2:]
        v = self.vertical(F.pad(vertical, (self.half, self.half, self.half, 0)))  # rows i-half..i: (B, 2h, S, S)
        below = F.pad(v, (0, 0, 1, 0))[:, :, :height]  # shifted down one row: rows < i
        # The first layer shifts its window one column left so that it stops before the current pixel.
        shift = 1 if self.first else 0
        h = F.pad(horizontal, (self.half + shift, 0, 0, 0))[:, :, :, : width + self.half]
        h = self.horizontal(h) + self.link(below)  # (B, 2h, S, S)
        gated_h = _gate(h)
        horizontal = self.out(gated_h) if self.first else horizontal + self.out(gated_h)
        return _gate(v), horizontal


def _gate(x: Tensor) -> Tensor:
    a, b = x.chunk(2, dim=1)
    return torch.tanh(a) * torch.sigmoid(b)

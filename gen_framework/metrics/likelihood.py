"""Likelihood metrics: total negative log-likelihood over a split, in nats, bits per unit and perplexity.

One :class:`NegativeLogLikelihood` serves every family: a VAE's importance-weighted NLL per image (units are
dimensions C·H·W → bits/dim), a language model's NLL per token (units are tokens → bits/token, perplexity;
characters → bits/char), an audio model's NLL per mu-law sample (→ bits/sample). All states are sums, so the
values under DDP equal those of one process over the same examples.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor
from torchmetrics import Metric

from gen_framework.metrics.functional import LN2


class NegativeLogLikelihood(Metric):
    """Accumulates −log p in nats over items (images, windows), their units (dims, tokens) and characters.

    ``compute`` returns:

    - ``nats_per_item``: mean NLL of an item (e.g. an image) in nats;
    - ``nats_per_unit``: total NLL / total units;
    - ``bits_per_unit``: the same in bits (bits/dim, bits/token, bits/sample);
    - ``perplexity``: ``exp(nats_per_unit)``;
    - ``bits_per_char``: total NLL in bits / total characters (NaN when no characters were counted).
    """

    higher_is_better: ClassVar[bool] = False
    is_differentiable: ClassVar[bool] = False
    full_state_update: ClassVar[bool] = False

    nats: Tensor
    items: Tensor
    units: Tensor
    characters: Tensor

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.add_state("nats", torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")
        for name in ("items", "units", "characters"):
            self.add_state(name, torch.zeros((), dtype=torch.long), dist_reduce_fx="sum")

    def update(self, nll_nats: Tensor, units: int, characters: int = 0) -> None:
        """Add items with NLLs ``nll_nats`` ``(B,)`` (nats each) covering ``units`` dims/tokens and ``characters``."""
        nll_nats = nll_nats.reshape(-1)
        self.nats += nll_nats.double().sum()
        self.items += nll_nats.numel()
        self.units += int(units)
        self.characters += int(characters)

    def compute(self) -> dict[str, Tensor]:
        nats_per_unit = self.nats / self.units.clamp(min=1)
        return {
            "nats_per_item": self.nats / self.items.clamp(min=1),
            "nats_per_unit": nats_per_unit,
            "bits_per_unit": nats_per_unit / LN2,
            "perplexity": nats_per_unit.exp(),
            "bits_per_char": (
                self.nats / LN2 / self.characters if int(self.characters) > 0
                else torch.tensor(float("nan"), dtype=torch.float64)
            ),
        }

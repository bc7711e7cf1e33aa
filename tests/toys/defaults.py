"""Plugins that change a family default: the documented way, and the ``kwargs.setdefault`` way genfw undoes."""

from __future__ import annotations

from typing import Any

from toys.models import ToyImageGAN

from gen_framework.families import AdversarialLoss


class HingeToyGAN(ToyImageGAN):
    """The documented way: the family option declared in the plugin's own signature, with its new default."""

    def __init__(self, loss: AdversarialLoss = "hinge", d_steps: int = 2, **kwargs: Any) -> None:
        super().__init__(loss=loss, d_steps=d_steps, **kwargs)


def define_setdefault_gan() -> type:
    """Define (and publish here, for the command line's class path) a GAN that sets its loss with setdefault."""

    class SetdefaultToyGAN(ToyImageGAN):
        def __init__(self, **kwargs: Any) -> None:
            kwargs.setdefault("loss", "hinge")
            super().__init__(**kwargs)

    SetdefaultToyGAN.__qualname__ = "SetdefaultToyGAN"
    globals()["SetdefaultToyGAN"] = SetdefaultToyGAN
    return SetdefaultToyGAN

"""The toy models registered as plugins for the length of a test, as ``genfw --model NAME`` finds them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from toys.models import ToyImageGAN, ToyVAE

from gen_framework.registry import PluginSpec, registry


@contextmanager
def toy_plugins(gan_name: str, vae_name: str = "othertoy") -> Iterator[None]:
    """Register :class:`ToyImageGAN` as ``gan_name`` and :class:`ToyVAE` as ``vae_name``, and only as those.

    Earlier registrations of the two classes under other names are removed first: a checkpoint records its
    plugin's name, and two names for one class would make the plugin a test expects ambiguous.
    """
    for record in registry.records():
        if record.spec is not None and record.spec.module_class in (ToyImageGAN, ToyVAE):
            registry.unregister(record.name)
    registry.register(PluginSpec(name=gan_name, family="adversarial", module_class=ToyImageGAN), replace=True)
    registry.register(PluginSpec(name=vae_name, family="variational", module_class=ToyVAE), replace=True)
    try:
        yield
    finally:
        registry.unregister(gan_name)
        registry.unregister(vae_name)

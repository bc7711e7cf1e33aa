"""The family base classes a plugin builds on: one LightningModule per family of generative models."""

from gen_framework.families.adversarial import AdversarialLoss, AdversarialModule
from gen_framework.families.autoregressive import AutoregressiveModule
from gen_framework.families.base import Family, GenerativeModule, Modality
from gen_framework.families.variational import VariationalModule

#: The base class a plugin of each family must subclass.
FAMILY_BASES: dict[str, type[GenerativeModule]] = {
    "adversarial": AdversarialModule,
    "variational": VariationalModule,
    "autoregressive": AutoregressiveModule,
}

__all__ = [
    "FAMILY_BASES",
    "AdversarialLoss",
    "AdversarialModule",
    "AutoregressiveModule",
    "Family",
    "GenerativeModule",
    "Modality",
    "VariationalModule",
]

"""The family base classes a plugin builds on: one LightningModule per family of generative models."""

from gen_framework.families.adversarial import AdversarialLoss, AdversarialModule
from gen_framework.families.autoregressive import AutoregressiveModule
from gen_framework.families.base import GenerativeModule, Modality
from gen_framework.families.variational import VariationalModule
from gen_framework.registry.spec import FAMILIES, Family

#: The base class a plugin of each family must subclass.
FAMILY_BASES: dict[Family, type[GenerativeModule]] = {
    "adversarial": AdversarialModule,
    "variational": VariationalModule,
    "autoregressive": AutoregressiveModule,
}

__all__ = [
    "FAMILIES",
    "FAMILY_BASES",
    "AdversarialLoss",
    "AdversarialModule",
    "AutoregressiveModule",
    "Family",
    "GenerativeModule",
    "Modality",
    "VariationalModule",
]

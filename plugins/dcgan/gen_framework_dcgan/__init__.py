"""gen-framework-dcgan: DCGAN (Radford et al. 2015) as a gen-framework plugin, registry name ``dcgan``."""

from __future__ import annotations

from gen_framework.registry import PluginSpec
from gen_framework_dcgan.model import DCGAN, IMAGE_SIZES, Discriminator, Generator, init_dcgan_weights

PLUGIN = PluginSpec(
    name="dcgan",
    family="adversarial",
    module_class=DCGAN,
    description="DCGAN: transposed-conv generator, strided-conv discriminator (28/32/64 px, 1 or 3 channels)",
    default_datamodule="mnist",
    default_config="dcgan/mnist.yaml",
    test_init_args={"latent_dim": 8, "image_size": 28, "channels": 1, "base_channels": 4},
    test_data_spec={"modality": "image", "channels": 1, "image_size": 28},
)

__all__ = ["DCGAN", "IMAGE_SIZES", "PLUGIN", "Discriminator", "Generator", "init_dcgan_weights"]

"""An example third-party plugin: a small convolutional GAN, registry name ``conv_gan``."""

from gen_framework.registry import PluginSpec

from gen_framework_conv_gan.model import ConvGAN

PLUGIN = PluginSpec(
    name="conv_gan",
    family="adversarial",
    module_class=ConvGAN,
    api_version="1.0",
    description="small convolutional hinge-loss GAN on 16x16 images (example third-party plugin)",
    default_datamodule="digits",
    test_init_args={"latent_dim": 8, "width": 4},
    test_data_spec={"modality": "image", "channels": 1, "image_size": 16},
)

__all__ = ["PLUGIN", "ConvGAN"]

"""An example third-party plugin: WGAN-GP (Gulrajani et al. 2017), registry name ``wgan_gp``."""

from gen_framework.registry import PluginSpec

from gen_framework_wgan_gp.model import WGANGP

PLUGIN = PluginSpec(
    name="wgan_gp",
    family="adversarial",
    module_class=WGANGP,
    api_version="1.0",
    description="WGAN-GP: Wasserstein critic with gradient penalty, n_critic fresh real batches (example plugin)",
    default_datamodule="digits",
    # d_steps=2: the kit's batches hold 4 images, split between the critic updates of a step.
    test_init_args={"image_size": 8, "latent_dim": 8, "width": 4, "d_steps": 2},
    test_data_spec={"modality": "image", "channels": 1, "image_size": 8},
)

__all__ = ["PLUGIN", "WGANGP"]

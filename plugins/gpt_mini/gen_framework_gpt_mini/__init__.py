"""gen-framework plugin ``gpt_mini``: a nanoGPT-class character/byte-level language model."""

from gen_framework.registry import PluginSpec
from gen_framework_gpt_mini.model import GPTMini, KVCache

PLUGIN = PluginSpec(
    name="gpt_mini",
    family="autoregressive",
    module_class=GPTMini,
    description="nanoGPT-class decoder (tied embeddings, KV-cache decoding) for character, byte or BPE text",
    default_datamodule="pydocs",
    default_config="gpt_mini/pydocs.yaml",
    test_init_args={"n_layer": 1, "n_head": 2, "n_embd": 16, "block_size": 16, "dropout": 0.1},
)

__all__ = ["GPTMini", "KVCache", "PLUGIN"]

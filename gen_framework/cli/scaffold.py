"""`genfw new-plugin`: write a complete, installable plugin distribution that passes the conformance kit.

The generated distribution holds a ``pyproject.toml`` with the entry point and the kit's pytest markers, a small
working model of the chosen family, a config, tests that run the whole conformance kit (the DDP check included,
as ``docs/plugins.md`` shows it) and a README. ``pip install -e DIR`` (:func:`install_command`) makes it appear in
``genfw plugins``.

Versions: one scheme, gen-framework's package version (``docs/plugins.md``, "Versioning policy"). The plugin
depends on the release series it was generated with: ``gen-framework>=0.1,<0.2`` while the package is ``0.x``
(a minor release may break plugins), ``>=1.2,<2`` from 1.0 on. ``PluginSpec.api_version`` is not a second number
to pin: the registry checks it when the plugin loads, for installs that bypassed pip's resolver.
"""

from __future__ import annotations

import re
from pathlib import Path
from string import Template

from gen_framework.errors import ConfigError
from gen_framework.registry.spec import Family as FamilyName

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")

_PYPROJECT = """\
[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "$dist"
version = "0.1.0"
description = "$title: a gen-framework plugin ($family)."
readme = "README.md"
requires-python = ">=3.10"
# The release series this plugin was written against (docs/plugins.md, "Versioning policy").
dependencies = ["gen-framework$framework_range"]

[project.optional-dependencies]
test = ["pytest>=8"]

[project.entry-points."gen_framework.plugins"]
$name = "$package:PLUGIN"

[tool.setuptools.packages.find]
include = ["$package*"]

[tool.setuptools.package-data]
$package = ["configs/*.yaml"]

[tool.pytest.ini_options]
# The markers the conformance kit puts on its cases (registered: --strict-markers would refuse them otherwise).
addopts = "--strict-markers"
markers = [
    "learning: the kit's learning check (trains the tiny instance for seconds)",
    "distributed: starts several processes (DDP on CPU)",
]
"""

_INIT = '''\
"""$title: a gen-framework plugin, registry name ``$name``."""

from gen_framework.registry import PluginSpec

from $package.model import $cls

PLUGIN = PluginSpec(
    name="$name",
    family="$family",
    module_class=$cls,
    api_version="$api_version",
    description="$title ($family)",
    default_datamodule="$datamodule",
    # A tiny instance, so the conformance kit runs in seconds.
    test_init_args=$test_init_args,
)

__all__ = ["PLUGIN", "$cls"]
'''

_MODELS = {
    "adversarial": '''\
"""$cls: an MLP GAN on small images, built on gen-framework's AdversarialModule."""

from torch import nn

from gen_framework.families import AdversarialModule


class $cls(AdversarialModule):
    """MLP generator and discriminator on ``(B, C, S, S)`` images in [-1, 1].

    Args:
        latent_dim: Size Z of the latent vectors.
        hidden: Width of the hidden layers.
        image_size: Side S of the images.
        channels: Image channels C.
    """

    def __init__(self, latent_dim: int = 64, hidden: int = 256, image_size: int = 16, channels: int = 1, **kwargs) -> None:
        super().__init__(**kwargs)
        self.latent_dim = latent_dim
        pixels = channels * image_size * image_size
        self.generator = nn.Sequential(
            nn.Linear(latent_dim, hidden), nn.ReLU(),
            nn.Linear(hidden, pixels), nn.Tanh(),
            nn.Unflatten(1, (channels, image_size, image_size)),  # (B, C, S, S)
        )
        self.discriminator = nn.Sequential(
            nn.Flatten(), nn.Linear(pixels, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, 1),
        )
''',
    "variational": '''\
"""$cls: an MLP VAE on small images, built on gen-framework's VariationalModule."""

import torch
from torch import nn

from gen_framework.families import VariationalModule


class $cls(VariationalModule):
    """MLP encoder and decoder on ``(B, C, S, S)`` images in [-1, 1].

    Args:
        latent_dim: Size Z of the latent vectors.
        hidden: Width of the hidden layers.
        image_size: Side S of the images.
        channels: Image channels C.
    """

    def __init__(self, latent_dim: int = 16, hidden: int = 256, image_size: int = 16, channels: int = 1, **kwargs) -> None:
        super().__init__(**kwargs)
        self.latent_dim = latent_dim
        pixels = channels * image_size * image_size
        out_channels = self.likelihood_channels(channels)
        self.encoder = nn.Sequential(nn.Flatten(), nn.Linear(pixels, hidden), nn.ReLU(), nn.Linear(hidden, 2 * latent_dim))
        self.decoder = nn.Sequential(
            nn.Linear(latent_dim, hidden), nn.ReLU(),
            nn.Linear(hidden, out_channels * image_size * image_size),
            nn.Unflatten(1, (out_channels, image_size, image_size)),
        )

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, log_var = self.encoder(x).chunk(2, dim=1)  # (B, Z) each
        return mean, log_var

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)
''',
    "autoregressive": '''\
"""$cls: a small causal convolutional language model, built on gen-framework's AutoregressiveModule."""

import torch
import torch.nn.functional as F
from torch import nn

from gen_framework.families import AutoregressiveModule


class $cls(AutoregressiveModule):
    """Token embedding, a stack of causal convolutions and a linear read-out.

    Args:
        embed: Embedding and channel width.
        kernel: Kernel size of each causal convolution.
        layers: Number of convolutions; the context is ``layers * (kernel - 1) + 1`` tokens.
    """

    modality = "text"

    def __init__(self, embed: int = 64, kernel: int = 3, layers: int = 4, **kwargs) -> None:
        super().__init__(**kwargs)
        self.embed, self.kernel, self.layers = embed, kernel, layers
        self.ensure_network()

    def build_network(self, vocab_size: int) -> None:
        self.tokens = nn.Embedding(vocab_size, self.embed)
        self.convs = nn.ModuleList(nn.Conv1d(self.embed, self.embed, self.kernel) for _ in range(self.layers))
        self.head = nn.Linear(self.embed, vocab_size)

    @property
    def context_size(self) -> int:
        return self.layers * (self.kernel - 1) + 1

    def forward(self, tokens: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        h = self.tokens(tokens).transpose(1, 2)  # (B, E, T)
        for conv in self.convs:
            # left padding only: position t sees tokens <= t
            h = h + F.gelu(conv(F.pad(h, (self.kernel - 1, 0))))
        return self.head(h.transpose(1, 2))  # (B, T, V)
''',
}

_CONFIGS = {
    "adversarial": ("digits", "image_size: ${data.init_args.image_size}\n    channels: ${data.init_args.channels}",
                    "gen_framework.data.Digits", "image_size: 16\n    channels: 1\n    batch_size: 64"),
    "variational": ("digits", "image_size: ${data.init_args.image_size}\n    channels: ${data.init_args.channels}",
                    "gen_framework.data.Digits", "image_size: 16\n    channels: 1\n    batch_size: 64"),
    "autoregressive": ("pydocs", "embed: 64", "gen_framework.data.PyDocs", "block_size: 32\n    batch_size: 32"),
}

_CONFIG = """\
# $title on the embedded $datamodule data; run with: genfw fit --config <this file>
seed_everything: 0
trainer:
  max_steps: 500
model:
  class_path: $package.$cls
  init_args:
    $model_args
data:
  class_path: $data_class
  init_args:
    $data_args
"""

_TESTS = '''\
"""$title passes gen-framework's conformance kit."""

from pathlib import Path

import pytest

from gen_framework.testing import conformance_cases

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "$package" / "configs").glob("*.yaml"))


# The whole kit, as docs/plugins.md shows it: the DDP check (marker `distributed`) starts 2 CPU processes.
@pytest.mark.parametrize("case", conformance_cases("$name", configs=CONFIGS))
def test_conformance(case, tmp_path):
    case(tmp_path)
'''

_README = """\
# $dist

$title: a [gen-framework](https://pypi.org/project/gen-framework/) plugin of the $family family, registry
name `$name`.

```bash
pip install -e .                                # the plugin appears in: genfw plugins
genfw fit --config $package/configs/$datamodule.yaml
genfw predict --ckpt_path last --num_samples 16 --output_dir samples
pytest tests                                    # the conformance kit, one test per check (DDP included)
pytest tests -m "not distributed"               # without the 2-process DDP check
```

Edit `$package/model.py` to change the networks; keep `PLUGIN.test_init_args` tiny so the kit stays fast.
"""

_TEST_INIT_ARGS = {
    "adversarial": '{"latent_dim": 4, "hidden": 16, "image_size": 8, "channels": 1}',
    "variational": '{"latent_dim": 2, "hidden": 16, "image_size": 8, "channels": 1}',
    "autoregressive": '{"embed": 8, "kernel": 2, "layers": 2}',
}


def class_name(name: str) -> str:
    """``my_model`` → ``MyModel``."""
    return "".join(part.capitalize() for part in name.split("_"))


def install_command(target: str | Path) -> str:
    """The exact command that installs the plugin written to ``target``: an editable install of that folder.

    Never a bare name: ``pip install my_gan`` asks the package index for a distribution called ``my_gan``, not the
    local folder (whoever publishes that name would be installed instead).
    """
    import shlex

    return f"pip install -e {shlex.quote(str(Path(target).resolve()))}"


def compatible_range(version: str) -> str:
    """The dependency specifier for plugins written against gen-framework ``version``.

    ``"0.1.3"`` → ``">=0.1,<0.2"`` (in ``0.x`` a minor release may break plugins); ``"1.2.0"`` → ``">=1.2,<2"``.
    """
    major, minor = (int(part) for part in re.findall(r"\d+", version)[:2])
    if major == 0:
        return f">=0.{minor},<0.{minor + 1}"
    return f">={major}.{minor},<{major + 1}"


def new_plugin(name: str, family: FamilyName, output: str | Path | None = None) -> Path:
    """Write a plugin distribution for ``name`` of ``family`` into ``output`` (default ``./<name>``)."""
    from gen_framework import __version__
    from gen_framework.registry import PLUGIN_API_VERSION

    if not _NAME.match(name):
        raise ConfigError(f"plugin name {name!r} must match ^[a-z][a-z0-9_]*$ (e.g. my_gan)")
    if family not in _MODELS:
        raise ConfigError(f"--family must be one of {', '.join(_MODELS)}, got {family!r}")
    target = Path(output) if output is not None else Path(name)
    if target.exists() and any(target.iterdir()):
        raise ConfigError(f"{target} exists and is not empty; choose another --output")
    package = f"gen_framework_{name}"
    datamodule, model_args, data_class, data_args = _CONFIGS[family]
    values = {
        "name": name, "family": family, "package": package, "cls": class_name(name),
        "dist": f"gen-framework-{name.replace('_', '-')}", "title": class_name(name),
        "framework_range": compatible_range(__version__), "api_version": PLUGIN_API_VERSION,
        "datamodule": datamodule, "model_args": model_args, "data_class": data_class, "data_args": data_args,
        "test_init_args": _TEST_INIT_ARGS[family],
    }
    files = {
        "pyproject.toml": _PYPROJECT,
        f"{package}/__init__.py": _INIT,
        f"{package}/model.py": _MODELS[family],
        f"{package}/configs/{datamodule}.yaml": _CONFIG,
        "tests/test_conformance.py": _TESTS,
        "README.md": _README,
    }
    for relative, template in files.items():
        path = target / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(Template(template).safe_substitute(values), encoding="utf-8")
    return target

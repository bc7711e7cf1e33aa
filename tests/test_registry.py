"""The registry against real entry points: throw-away distributions on a temporary sys.path entry."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from toys.models import ToyGAN, ToyVAE

from gen_framework.errors import PluginError
from gen_framework.registry import PluginRegistry, PluginSpec, api_compatible, validate_spec


def make_distribution(root: Path, dist: str, version: str, entries: dict[str, str], modules: dict[str, str]) -> None:
    """Write ``<dist>-<version>.dist-info`` with entry points, and the modules they point to, under ``root``."""
    info = root / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    lines = "\n".join(f"{name} = {target}" for name, target in entries.items())
    (info / "entry_points.txt").write_text(f"[gen_framework.plugins]\n{lines}\n")
    for module, source in modules.items():
        (root / f"{module}.py").write_text(textwrap.dedent(source))


GOOD = """
    from gen_framework.registry import PluginSpec
    from toys.models import ToyGAN
    PLUGIN = PluginSpec(name="{name}", family="adversarial", module_class=ToyGAN, description="toy", api_version="{api}")
"""


@pytest.fixture
def site(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv("GEN_FRAMEWORK_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    monkeypatch.delenv("GEN_FRAMEWORK_BLOCK_PLUGINS", raising=False)
    return tmp_path


def fresh_registry() -> PluginRegistry:
    return PluginRegistry()


def test_a_good_plugin_is_discovered_with_its_provenance(site):
    make_distribution(site, "toy-good", "1.2.3", {"goodtoy": "goodtoy_mod:PLUGIN"},
                      {"goodtoy_mod": GOOD.format(name="goodtoy", api="1.0")})
    registry = fresh_registry()
    spec = registry.get("goodtoy")
    assert spec.module_class is ToyGAN
    record = next(r for r in registry.records() if r.name == "goodtoy")
    assert (record.status, record.distribution, record.version) == ("ok", "toy-good", "1.2.3")
    assert registry.record_for_class(ToyGAN).name == "goodtoy"


def test_a_plugin_whose_import_raises_is_broken_and_isolated(site):
    make_distribution(site, "toy-broken", "0.1", {"brokentoy": "brokentoy_mod:PLUGIN"},
                      {"brokentoy_mod": "raise RuntimeError('missing dependency foo')\n"})
    make_distribution(site, "toy-good2", "1.0", {"goodtoy2": "goodtoy2_mod:PLUGIN"},
                      {"goodtoy2_mod": GOOD.format(name="goodtoy2", api="1.0")})
    registry = fresh_registry()
    record = next(r for r in registry.records() if r.name == "brokentoy")
    assert record.status == "broken" and "missing dependency foo" in record.error
    assert registry.get("goodtoy2").module_class is ToyGAN
    with pytest.raises(PluginError, match="brokentoy.*broken.*missing dependency foo"):
        registry.get("brokentoy")


def test_a_plugin_for_another_api_is_incompatible(site):
    make_distribution(site, "toy-future", "3.0", {"futuretoy": "futuretoy_mod:PLUGIN"},
                      {"futuretoy_mod": GOOD.format(name="futuretoy", api="2.0")})
    registry = fresh_registry()
    record = next(r for r in registry.records() if r.name == "futuretoy")
    assert record.status == "incompatible"
    assert "targets plugin API 2.0" in record.error and "provides 1.0" in record.error
    with pytest.raises(PluginError, match="incompatible"):
        registry.get("futuretoy")


def test_duplicate_names_are_an_error_naming_both_distributions(site):
    make_distribution(site, "toy-one", "1.0", {"twin": "twin_one:PLUGIN"}, {"twin_one": GOOD.format(name="twin", api="1.0")})
    make_distribution(site, "toy-two", "2.0", {"twin": "twin_two:PLUGIN"}, {"twin_two": GOOD.format(name="twin", api="1.0")})
    registry = fresh_registry()
    with pytest.raises(PluginError, match=r"toy-one 1\.0.*toy-two 2\.0|toy-two 2\.0.*toy-one 1\.0"):
        registry.get("twin")


def test_autoload_can_be_disabled_and_plugins_blocked(site, monkeypatch):
    make_distribution(site, "toy-good3", "1.0", {"goodtoy3": "goodtoy3_mod:PLUGIN"},
                      {"goodtoy3_mod": GOOD.format(name="goodtoy3", api="1.0")})
    monkeypatch.setenv("GEN_FRAMEWORK_BLOCK_PLUGINS", "goodtoy3")
    assert "goodtoy3" not in [r.name for r in fresh_registry().records()]
    monkeypatch.delenv("GEN_FRAMEWORK_BLOCK_PLUGINS")
    monkeypatch.setenv("GEN_FRAMEWORK_DISABLE_PLUGIN_AUTOLOAD", "1")
    registry = fresh_registry()
    assert registry.records() == []
    registry.register(PluginSpec(name="inproc", family="variational", module_class=ToyVAE))
    assert registry.get("inproc").module_class is ToyVAE


def test_unknown_plugin_lists_the_available_ones(monkeypatch):
    monkeypatch.setenv("GEN_FRAMEWORK_DISABLE_PLUGIN_AUTOLOAD", "1")
    registry = fresh_registry()
    registry.register(PluginSpec(name="alpha", family="adversarial", module_class=ToyGAN))
    with pytest.raises(PluginError, match="unknown plugin 'nope'; available plugins: alpha"):
        registry.get("nope")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (PluginSpec(name="Bad-Name", family="adversarial", module_class=ToyGAN), "must match"),
        (PluginSpec(name="x", family="diffusion", module_class=ToyGAN), "allowed: adversarial"),
        (PluginSpec(name="x", family="variational", module_class=ToyGAN), "subclass of VariationalModule"),
        (PluginSpec(name="x", family="adversarial", module_class=object), "subclass of AdversarialModule"),
    ],
)
def test_invalid_specs_are_refused_with_a_reason(spec, message, monkeypatch):
    monkeypatch.setenv("GEN_FRAMEWORK_DISABLE_PLUGIN_AUTOLOAD", "1")
    assert message in validate_spec(spec)[1]
    with pytest.raises(PluginError, match=message):
        fresh_registry().register(spec)


def test_the_family_list_names_the_family_bases():
    """The registry checks plugins against the bases by name; the names must be those of the real classes."""
    from gen_framework.families import FAMILY_BASES
    from gen_framework.registry import FAMILIES, FAMILY_BASE_PATHS, class_path, family_of

    assert tuple(FAMILY_BASES) == FAMILIES == tuple(FAMILY_BASE_PATHS)
    for family, base in FAMILY_BASES.items():
        assert class_path(base) == FAMILY_BASE_PATHS[family]
        assert family_of(base) == family_of(type("Sub", (base,), {"__module__": "elsewhere"})) == family
    assert family_of(object) is None and family_of("gen_framework.families.adversarial.AdversarialModule") is None


def test_register_twice_needs_replace(monkeypatch):
    monkeypatch.setenv("GEN_FRAMEWORK_DISABLE_PLUGIN_AUTOLOAD", "1")
    registry = fresh_registry()
    spec = PluginSpec(name="same", family="adversarial", module_class=ToyGAN)
    registry.register(spec)
    with pytest.raises(PluginError, match="already registered"):
        registry.register(spec)
    registry.register(spec, replace=True)


def test_entry_point_name_must_match_the_spec(site):
    make_distribution(site, "toy-mismatch", "1.0", {"alias": "mismatch_mod:PLUGIN"},
                      {"mismatch_mod": GOOD.format(name="realname", api="1.0")})
    record = next(r for r in fresh_registry().records() if r.name == "alias")
    assert record.status == "broken" and "names must match" in record.error


@pytest.mark.parametrize(("version", "ok"), [("1.0", True), ("0.9", False), ("1.1", False), ("2.0", False), ("x", False)])
def test_api_version_policy(version, ok):
    assert api_compatible(version) is ok

"""The conformance kit passes sound toy plugins, and each of its checks fails on a plugin with one defect."""

from __future__ import annotations

import pytest
from toys import mutants
from toys.models import ToyImageGAN, ToyLM, ToyVAE

from gen_framework.registry import PluginSpec
from gen_framework.testing import check_plugin, conformance_cases, plugin_checks
from gen_framework.testing.checks import CHECKS

GAN_ARGS = {"ema_decay": 0.9, "r1_gamma": 1.0, "r1_interval": 3}
SOUND = [
    PluginSpec(name="kit_gan", family="adversarial", module_class=ToyImageGAN, test_init_args=GAN_ARGS),
    PluginSpec(name="kit_vae", family="variational", module_class=ToyVAE),
    PluginSpec(name="kit_lm", family="autoregressive", module_class=ToyLM, test_init_args={"context": 8}),
]


@pytest.mark.parametrize(
    "case",
    [case for spec in SOUND for case in conformance_cases(spec, include_distributed=spec.name == "kit_vae")],
)
def test_sound_toy_plugins_pass_every_check(case, tmp_path):
    case(tmp_path)


def spec(name: str, cls: type, **kwargs) -> PluginSpec:
    family = {ToyImageGAN: "adversarial", ToyVAE: "variational", ToyLM: "autoregressive"}
    base = next(b for b in cls.__mro__ if b in family)
    init_args = {"context": 8} if base is ToyLM else {}
    return PluginSpec(name=name, family=family[base], module_class=cls, test_init_args=init_args, **kwargs)


#: Each check, the plugin with one defect that it must fail. Every check of the kit has at least one.
MUTANTS = [
    ("spec_is_valid", PluginSpec(name="bad_spec", family="variational", module_class=ToyVAE,
                                 test_init_args={"latnet_dim": 4})),
    ("fit_reaches_every_parameter", spec("bad_param", mutants.DeadParameter)),
    ("fit_reaches_every_parameter", spec("bad_optimiser", mutants.OptimiserThatNeverMoves)),
    ("sample_contract", spec("bad_range", mutants.OutOfRangeSamples)),
    ("seeded_sampling", spec("bad_seed", mutants.UnseededSampling)),
    ("pretrained_round_trip", spec("bad_pretrained", mutants.UnsavedSamplingState)),
    ("checkpoint_round_trip", spec("bad_ckpt", mutants.EditsWeightsOnLoad)),
    ("predict_writes_files", spec("bad_predict", mutants.ForgetsFrameworkMetadata)),
    ("bf16_mixed_step", spec("bad_bf16_loss", mutants.NonFiniteUnderBf16)),
    ("bf16_mixed_step", spec("bad_bf16_step", mutants.SkipsStepUnderMixedPrecision)),
    ("resume_equivalence", spec("bad_resume", mutants.ForgetfulOnResume)),
    ("adversarial_players_both_change", spec("bad_players", mutants.GeneratorNeverSteps)),
    ("variational_terms", spec("bad_terms", mutants.MisshapenLogVariance)),
    ("autoregressive_causality", spec("bad_causal", mutants.Acausal)),
    ("cached_generation_agrees", spec("bad_cache", mutants.ForgetfulCache)),
    ("learns_easy_data", spec("bad_gan_sign", mutants.GeneratorSignError)),
    ("learns_easy_data", spec("bad_gan_blind", mutants.LatentBlindGAN)),
    ("learns_easy_data", spec("bad_vae_ascent", mutants.GradientAscentVAE)),
    ("learns_easy_data", spec("bad_vae_blind", mutants.InputBlindVAE)),
    ("learns_easy_data", spec("bad_lm_blind", mutants.ContextBlindLM)),
]
#: Checks whose mutant needs a resource beyond a plugin class (files, processes): tested separately below.
SEPARATE = {
    "configs_parse": "needs config files",
    "ddp_two_processes": "starts 2 processes (slow)",
    "ddp_ranks_draw_differently": "starts 2 processes (tests/testing/test_rank_randomness_check.py)",
}


def test_every_check_has_a_mutant():
    covered = {check for check, _ in MUTANTS} | set(SEPARATE)
    assert covered == {check.name for check in CHECKS}


@pytest.mark.parametrize(
    ("failing", "plugin"),
    # The learning check trains for seconds: its mutants run with the learning tests (pytest -m learning).
    [pytest.param(c, s, id=f"{c}-{s.name}", marks=[pytest.mark.learning] if c == "learns_easy_data" else [])
     for c, s in MUTANTS],
)
def test_each_check_fails_on_its_mutant(failing, plugin):
    report = check_plugin(plugin, raise_on_failure=False, select={failing, "spec_is_valid"})
    outcomes = {r.name: r for r in report.results}
    assert outcomes[failing].outcome == "failed", str(report)
    print(f"{plugin.name}: {failing} failed as it should: {outcomes[failing].message}")
    if failing != "spec_is_valid":  # the mutant is a valid plugin: only its one defect is caught
        assert outcomes["spec_is_valid"].outcome == "passed", str(report)


def test_the_mutant_of_the_players_check_changes_its_generator_buffers(tmp_path):
    """The old comparison of state dicts passed this mutant: its BatchNorm statistics move without any update."""
    import pytorch_lightning as pl
    import torch

    from gen_framework.testing.kit import KitContext

    ctx = KitContext(spec("bad_players2", mutants.GeneratorNeverSteps), workdir=tmp_path)
    model = ctx.make_model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    pl.Trainer(max_steps=1, **ctx.trainer_kwargs()).fit(model, ctx.make_data(model))
    after = model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert any(k.startswith("generator.") and "running_" in k for k in changed)
    assert not any(k.startswith("generator.") and k.endswith(("weight", "bias")) for k in changed)


def write_config(path, init_args: str):
    path.write_text(
        "model:\n  class_path: toys.models.ToyVAE\n  init_args:\n" + init_args
        + "data:\n  class_path: toys.data.ToyImages\n  init_args:\n    count: 16\n",
        encoding="utf-8",
    )
    return path


def test_configs_parse_passes_a_sound_config_fails_a_misspelt_key_and_skips_without_configs(tmp_path):
    vae = PluginSpec(name="kit_vae_configs", family="variational", module_class=ToyVAE)
    sound = write_config(tmp_path / "sound.yaml", "    latent_dim: 4\n")
    misspelt = write_config(tmp_path / "misspelt.yaml", "    latnet_dim: 4\n")
    outcome = {}
    for name, configs in (("sound", [sound]), ("misspelt", [sound, misspelt]), ("none", [])):
        report = check_plugin(vae, raise_on_failure=False, select={"configs_parse"}, configs=configs)
        (result,) = report.results
        outcome[name] = (result.outcome, result.message)
    assert outcome["sound"][0] == "passed", outcome
    assert outcome["misspelt"][0] == "failed" and "misspelt.yaml" in outcome["misspelt"][1], outcome
    assert outcome["none"][0] == "skipped" and "no configs" in outcome["none"][1], outcome


def test_a_skipped_check_is_reported_with_its_reason_not_as_a_pass():
    report = check_plugin(SOUND[1], select={"configs_parse"})
    assert [(r.name, r.outcome) for r in report.results] == [("configs_parse", "skipped")]
    assert "skipped  configs_parse: no configs given" in str(report)
    assert not report.failures


@pytest.mark.parametrize("case", conformance_cases(SOUND[1], include_distributed=False))
def test_a_conformance_case_with_nothing_to_check_skips_under_pytest(case, tmp_path):
    if case.check.name != "configs_parse":
        pytest.skip("only configs_parse has nothing to check here")
    with pytest.raises(pytest.skip.Exception, match="configs_parse: no configs given"):
        case(tmp_path)


def test_cached_generation_is_skipped_for_a_model_without_a_cache():
    class NoCache(ToyLM):
        def init_cache(self, batch_size, condition=None):
            return None

    report = check_plugin(spec("kit_no_cache", NoCache), select={"cached_generation_agrees"})
    assert report.results[0].outcome == "skipped" and "no incremental decoding" in report.results[0].message


@pytest.mark.slow
@pytest.mark.distributed
def test_ddp_check_fails_on_a_rank_local_statistic():
    report = check_plugin(spec("bad_ddp", mutants.RankLocalStatistic), raise_on_failure=False,
                          select={"ddp_two_processes"})
    assert report.results[0].outcome == "failed", str(report)
    assert "data_mean" in report.results[0].message, str(report)


def test_declared_failures_are_xfailed_and_an_unexpected_pass_is_reported():
    plugin = spec("bad_seed2", mutants.UnseededSampling)
    report = check_plugin(plugin, raise_on_failure=False, select={"seeded_sampling", "sample_contract"},
                          expected_failures={"seeded_sampling": "draws from the global RNG",
                                             "sample_contract": "claimed broken, but is not"})
    outcomes = {r.name: r.outcome for r in report.results}
    assert outcomes["seeded_sampling"] == "xfailed"
    assert outcomes["sample_contract"] == "xpassed"
    assert [r.name for r in report.failures] == ["sample_contract"]
    with pytest.raises(AssertionError, match="xpassed"):
        check_plugin(plugin, expected_failures={"sample_contract": "x"}, select={"sample_contract"})


def test_every_family_has_the_learning_check():
    for plugin in SOUND:
        assert "learns_easy_data" in {c.name for c in plugin_checks(plugin)}

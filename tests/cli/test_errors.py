"""Each jsonargparse message form genfw translates (jsonargparse 4.42 to 4.x), from canned messages: one line that
names the key and what is accepted. The forms are listed in gen_framework.cli.errors.MESSAGE_FORMS."""

from __future__ import annotations

import pytest

from gen_framework.cli.errors import MESSAGE_FORMS, describe_argument_error, describe_parse_error

KNOWN = ["--trainer.max_steps", "--trainer.max_time", "--trainer.min_steps", "--trainer.precision",
         "--checkpoint.save_last", "--checkpoint.dirpath", "--model", "--data", "--ckpt_path", "--seed_everything"]
ALIASES = {
    "model": {"dcgan": "gen_framework_dcgan.model.DCGAN", "DCGAN": "gen_framework_dcgan.model.DCGAN",
              "vae": "gen_framework_vae.model.ConvVAE"},
    "data": {"digits": "gen_framework.data.image_arrays.Digits", "mnist": "gen_framework.data.idx.MNIST"},
}

UNION_MODEL = """Parser key "model":
  Does not validate against any of the Union subtypes
  Subtypes: [<class 'gen_framework.families.base.GenerativeModule'>, <class 'NoneType'>]
  Errors:
    - Problem with given class_path 'toys.models.ToyImageGAN':
        Parser key "latent_dim":
          Expected a <class 'int'>. Got value: abc
    - Expected a <class 'NoneType'>
  Given value type: <class 'jsonargparse._util.NestedArg'>
  Given value: NestedArg(key='latent_dim', val='abc')"""

NOT_ACCEPTED_IN_CLASS = """Parser key "model":
  Does not validate against any of the Union subtypes
  Subtypes: [<class 'gen_framework.families.base.GenerativeModule'>, <class 'NoneType'>]
  Errors:
    - Problem with given class_path 'toys.models.ToyImageGAN':
        Option 'latent_dimm' is not accepted
    - Expected a <class 'NoneType'>
  Given value type: <class 'dict'>
  Given value: {'class_path': 'toys.models.ToyImageGAN', 'init_args': {'latent_dimm': 3}}"""

LITERAL_UNION = """Parser key "trainer.precision":
  Does not validate against any of the Union subtypes
  Subtypes: [typing.Literal[64, 32, 16], typing.Literal['16-mixed', 'bf16-mixed', '32-true'], <class 'NoneType'>]
  Errors:
    - Expected a typing.Literal[64, 32, 16]
    - Expected a typing.Literal['16-mixed', 'bf16-mixed', '32-true']
    - Expected a <class 'NoneType'>
  Given value type: <class 'int'>
  Given value: 99"""

UNKNOWN_CLASS = """Parser key "model":

  - Expected a path but Nope either not accessible or invalid
  - Does not validate against any of the Union subtypes
  Subtypes: [<class 'gen_framework.families.base.GenerativeModule'>, <class 'NoneType'>]
  Errors:
    - Expected a dot import path string: Nope
    - Expected a <class 'NoneType'>
  Given value type: <class 'str'>
  Given value: Nope"""

NOT_SUBCLASS = """Parser key "model":
  Does not validate against any of the Union subtypes
  Subtypes: [<class 'gen_framework.families.base.GenerativeModule'>, <class 'NoneType'>]
  Errors:
    - Not a valid subclass of GenerativeModule. Got value: torch.nn.Linear
    - Expected a <class 'NoneType'>
  Given value type: <class 'str'>
  Given value: torch.nn.Linear"""

CASES = {
    # form: (message, [substrings the translation must hold])
    "unrecognized arguments": (
        "unrecognized arguments: --trainer.max_stepz 3",
        ["unknown key 'trainer.max_stepz'", "did you mean trainer.max_steps"],
    ),
    "unrecognized positional": (
        "unrecognized arguments: stray",
        ["unexpected argument 'stray'", "--key value"],
    ),
    "unknown section": (
        "unrecognized arguments: --trainr.max_steps 3",
        ["unknown key 'trainr'", "did you mean trainer", "(in trainr.max_steps)"],
    ),
    "subcommand does not accept": (
        "Subcommand 'fit' does not accept option 'trainer.max_stepz'",
        ["unknown key 'trainer.max_stepz'", "did you mean trainer.max_steps"],
    ),
    "subcommand does not accept a nested subcommand section": (
        "Subcommand 'fit' does not accept option 'fit.trainer.max_steps'",
        ["unknown key 'fit.trainer.max_steps'", "genfw fit", "at the top level, not under fit:"],
    ),
    "group does not accept": (
        "Group 'checkpoint' does not accept option 'save_lsat'",
        ["unknown key 'checkpoint.save_lsat'", "did you mean checkpoint.save_last"],
    ),
    "group does not accept, nothing close": (
        "Group 'checkpoint' does not accept option 'zzz'",
        ["unknown key 'checkpoint.zzz'", "the checkpoint section accepts: dirpath, save_last"],
    ),
    "not accepted before subcommand": (
        "Option 'trainer.max_steps' is not accepted before subcommand 'fit'",
        ["option 'trainer.max_steps' is given before the subcommand", "genfw fit --trainer.max_steps VALUE"],
    ),
    "not accepted before an unnamed subcommand": (
        "Option 'trainer.max_steps' is not accepted before subcommand {fit,...}",
        ["genfw SUBCOMMAND --trainer.max_steps VALUE"],
    ),
    "not accepted (class option)": (
        NOT_ACCEPTED_IN_CLASS,
        ["model.init_args.latent_dimm", "ToyImageGAN has no option 'latent_dimm'", "Did you mean 'latent_dim'",
         "accepts: latent_dim"],
    ),
    "required, one": (
        "the following arguments are required: fit.model",
        ["missing required option: --model (dcgan, vae)"],
    ),
    "required, several at once": (
        "the following arguments are required: fit.model, fit.data",
        ["missing required options: --model (dcgan, vae), --data (digits, mnist)"],
    ),
    "required, no subcommand prefix": (
        "the following arguments are required: model, trainer.max_steps",
        ["missing required options: --model (dcgan, vae), --trainer.max_steps"],
    ),
    "expected one argument": (
        "argument --trainer.max_steps: expected one argument",
        ["option --trainer.max_steps needs a value"],
    ),
    "parser key tree (class option of the wrong type)": (
        UNION_MODEL,
        ["model.init_args.latent_dim (ToyImageGAN): expected int, got abc"],
    ),
    "parser key tree (union of literals)": (
        LITERAL_UNION,
        ["trainer.precision: expected one of 64, 32, 16, '16-mixed', 'bf16-mixed', '32-true'", "got 99"],
    ),
    "dot import path": (
        UNKNOWN_CLASS,
        ["model: unknown class 'Nope'", "known: DCGAN, dcgan, vae"],
    ),
    "dot import path, a short name in a config": (
        UNKNOWN_CLASS.replace("Nope", "vae"),
        ["model: 'vae' is a short name", "class_path: gen_framework_vae.model.ConvVAE"],
    ),
    "not a subclass": (
        NOT_SUBCLASS,
        ["model: expected a class path or a mapping with class_path and init_args", "got torch.nn.Linear"],
    ),
}


@pytest.mark.parametrize("form", sorted(CASES))
def test_each_message_form_becomes_one_line_naming_the_key(form):
    message, expected = CASES[form]
    line = describe_parse_error(message, KNOWN, ALIASES)
    assert "\n" not in line and line.strip() == line
    for part in expected:
        assert part in line, f"{part!r} not in {line!r}"
    # the union machinery and Python reprs never reach the user
    for noise in ("Subtypes", "Given value type", "NoneType", "<class", "value.init_args", "NestedArg"):
        assert noise not in line, f"{noise!r} in {line!r}"


def test_every_listed_form_has_a_canned_case():
    covered = " ".join(CASES)
    for form, example in MESSAGE_FORMS:
        assert form in covered, form
        assert describe_parse_error(example, KNOWN, ALIASES).strip()


def test_the_argument_error_object_is_read_through_its_message():
    from jsonargparse import ArgumentParser

    parser = ArgumentParser(exit_on_error=False)
    parser.add_argument("--max_steps", type=int, required=True)
    parser.add_argument("--data", type=str, required=True)
    with pytest.raises(Exception) as missing:
        parser.parse_args([])
    assert describe_argument_error(missing.value) == "missing required options: --max_steps, --data"
    with pytest.raises(Exception) as wrong:
        parser.parse_args(["--max_steps", "x", "--data", "d"])
    assert describe_argument_error(wrong.value, ["--max_steps", "--data"]).startswith("max_steps: expected int")

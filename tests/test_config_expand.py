"""The one ``${VAR}`` expander (:func:`magec.config.expand_vars`), as config files and the store use it."""

from __future__ import annotations

from magec.config import expand_env, expand_vars


def test_first_source_with_the_name_wins_and_defaults_apply_to_empty() -> None:
    secrets, env = {"A": "secret", "E": ""}, {"A": "env", "B": "env-b", "E": "env-e"}
    assert expand_vars("${A} ${B} ${C} ${C:-dc} ${E:-de}", secrets, env) == "secret env-b  dc de"


def test_config_form_reads_one_mapping() -> None:
    assert expand_env("${X:-x}/${Y}", {"Y": "y"}) == "x/y"

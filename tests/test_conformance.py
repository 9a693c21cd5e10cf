"""The conformance suite (nlp_envs.testing) on every registered env id, with no per-env code."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nlp_envs import testing
from nlp_envs.registration import ENV_IDS, registered_ids
from tests.helpers import available_ids

IDS = available_ids()


def test_declared_ids_equal_registry() -> None:
    assert sorted(ENV_IDS) == registered_ids()
    assert len(set(ENV_IDS)) == len(ENV_IDS)


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_docstring_version_history_names_the_version(env_id: str) -> None:
    """Gymnasium style: the env class docstring's ``## Version History`` has a ``* vN:`` entry for the
    version of every id registered with that class (``NerTag-v1`` -> ``* v1:``)."""
    import importlib
    import inspect
    import re

    spec = gym.spec(env_id)
    module, _, name = spec.entry_point.partition(":")
    doc = inspect.getdoc(getattr(importlib.import_module(module), name)) or ""
    assert "## Version History" in doc, f"{spec.entry_point} has no '## Version History' section"
    history = doc.split("## Version History", 1)[1].split("\n## ", 1)[0]
    assert spec.version is not None, f"{env_id} has no -vN version"
    assert re.search(rf"^\* v{spec.version}:", history, re.MULTILINE), (
        f"{spec.entry_point}'s Version History has no '* v{spec.version}:' entry for {env_id}"
    )


def test_namespaced_make_without_prior_import() -> None:
    import subprocess
    import sys

    code = "import gymnasium as gym; e = gym.make('nlp_envs:TextCls-v0'); e.reset(seed=0); print('ok')"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("ok")


@pytest.mark.parametrize("env_id", IDS)
def test_gymnasium_check_env(env_id: str) -> None:
    testing.check_gymnasium(env_id)


@pytest.mark.parametrize("env_id", IDS)
def test_sb3_check_env(env_id: str) -> None:
    testing.check_sb3(env_id)


@pytest.mark.parametrize("env_id", IDS)
def test_seeded_rollouts_equal(env_id: str) -> None:
    testing.check_seeded_rollouts(env_id, steps=200)


@pytest.mark.parametrize("env_id", IDS)
def test_pickle_round_trip(env_id: str) -> None:
    testing.check_pickle(env_id)


@pytest.mark.parametrize("env_id", IDS)
def test_spec_json_round_trip(env_id: str) -> None:
    testing.check_spec_json(env_id)


@pytest.mark.parametrize("env_id", IDS)
def test_bad_inputs(env_id: str) -> None:
    testing.check_bad_inputs(env_id)


@pytest.mark.parametrize("autoreset_mode", ["NextStep", "SameStep", "Disabled"])
@pytest.mark.parametrize("env_id", IDS)
def test_vector_env_matches_sync(env_id: str, autoreset_mode: str) -> None:
    testing.check_vector_matches_sync(env_id, num_envs=4, steps=150, autoreset_mode=autoreset_mode)


@pytest.mark.parametrize("env_id", IDS)
def test_info_batches(env_id: str) -> None:
    testing.check_info_batches(env_id)


@pytest.mark.parametrize("env_id", IDS)
def test_make_vec_autoreset_modes(env_id: str) -> None:
    testing.check_make_vec_autoreset(env_id)


@pytest.mark.parametrize("env_id", IDS)
def test_flat_observation(env_id: str) -> None:
    testing.check_flat_obs(env_id)


@pytest.mark.parametrize("env_id", IDS)
def test_family_contract(env_id: str) -> None:
    testing.check_family_contract(env_id)


@pytest.mark.parametrize("env_id", IDS)
def test_gold_episodes(env_id: str) -> None:
    testing.check_gold_episodes(env_id)


@pytest.mark.parametrize("env_id", IDS)
def test_text_mode(env_id: str) -> None:
    """obs_mode="text" for every id: strict check_env, seeding, pickle, the bad-input table, vector env."""
    testing.check_text_mode(env_id)


@pytest.mark.parametrize("env_id", IDS)
def test_text_mode_render(env_id: str) -> None:
    env = gym.make(env_id, render_mode="ansi", obs_mode="text")
    env.reset(seed=0)
    assert isinstance(env.render(), str)
    env.step("???")
    assert isinstance(env.render(), str)


@pytest.mark.parametrize("env_id", IDS)
def test_render_modes(env_id: str) -> None:
    env = gym.make(env_id, render_mode="ansi")
    env.reset(seed=0)
    text = env.render()
    assert isinstance(text, str) and text.strip()
    env.step(testing._valid_action(env, np.random.default_rng(0)))
    assert isinstance(env.render(), str)


@pytest.mark.parametrize("env_id", IDS)
def test_fuzz_seeds_options_actions(env_id: str) -> None:
    """Hypothesis fuzz: 200 episodes per env over random seeds, pinned indices and actions."""
    counter = {"episodes": 0}

    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    @given(seed=st.integers(0, 2**31 - 1))
    def fuzz(seed: int) -> None:
        testing.run_episodes(env_id, seed, episodes=5, pin_index=True)
        counter["episodes"] += 5

    fuzz()
    assert counter["episodes"] >= 200

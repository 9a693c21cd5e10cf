"""``nlp_envs/core.py`` directly: the native vector env's public example-order API (``order_state`` /
``set_order_state``, ``reseed_sub_envs``, ``restart_order``), the one a trainer's checkpoint and GRPO's grouped
waves use. The rest of the env core is exercised through a family in ``test_text_cls.py``."""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.error import ResetNeeded

import nlp_envs  # noqa: F401 - registers the ids
from nlp_envs.jsonable import json_default

N = 4


def make(order: str = "shuffle", num_envs: int = N) -> gym.vector.VectorEnv:
    return gym.make_vec("TextCls-v0", num_envs=num_envs, vectorization_mode="vector_entry_point", order=order,
                        split="test")


def draws(venv: gym.vector.VectorEnv, k: int) -> list[list[int]]:
    """The example index of every sub-env for ``k`` resets (each ``reset()`` without a seed starts every sub-env's
    next example of its order, as an autoreset does)."""
    return [venv.reset()[1]["index"].tolist() for _ in range(k)]


@pytest.mark.parametrize("order", ["shuffle", "sequential"])
def test_a_saved_order_replays_the_same_examples(order: str) -> None:
    """Save the order mid-pass, go on; a second env restored from it (after JSON) plays the same examples."""
    a = make(order)
    a.reset(seed=0)
    draws(a, 300)  # past the first pass of every sub-env (1000 test examples, 250 per sub-env in sequential)
    state = a.unwrapped.order_state()
    text = json.dumps(state, default=json_default)  # what a checkpoint can write
    want = draws(a, 400)

    b = make(order)
    b.reset(seed=123)  # another seed: everything it plays next comes from the restored state
    b.unwrapped.set_order_state(json.loads(text))
    assert draws(b, 400) == want
    # and autoresets draw from the same order as resets
    b.unwrapped.set_order_state(state)
    for k in range(3):
        b.step(np.zeros(N, np.int64))  # answers the current examples
        _, _, _, _, info = b.step(np.zeros(N, np.int64))  # NEXT_STEP: starts the next ones
        assert info["index"].tolist() == want[k]


def test_order_state_is_a_copy_with_the_documented_keys() -> None:
    venv = make()
    venv.reset(seed=0)
    state = venv.unwrapped.order_state()
    assert set(state) == {"env_rngs", "perm", "pos"}
    assert len(state["env_rngs"]) == N and state["pos"].shape == (N,)
    before = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in state.items()}
    draws(venv, 50)
    assert all(np.array_equal(state[k], before[k]) for k in ("perm", "pos"))  # not a view of the live order
    assert make("sequential").unwrapped.order_state()["perm"] is None


def test_reseed_sub_envs_equals_a_reset_with_those_seeds() -> None:
    """GRPO's groups: sub-envs given one seed draw the same examples, exactly as ``reset(seed=[...])``."""
    seeds = [7, 7, 9, 9]
    a = make()
    a.reset(seed=0)
    draws(a, 3)
    a.unwrapped.reseed_sub_envs(seeds)
    b = make()
    b.reset(seed=1)
    _, info_b = b.reset(seed=seeds)
    got = draws(a, 20)
    assert got[0] == info_b["index"].tolist() and got[1:] == draws(b, 19)
    assert all(row[0] == row[1] and row[2] == row[3] for row in got)


def test_restart_order_starts_a_new_pass() -> None:
    venv = make("sequential")
    _, first = venv.reset(seed=0)
    draws(venv, 5)
    venv.unwrapped.restart_order()
    assert draws(venv, 1)[0] == first["index"].tolist() == list(range(N))  # sub-env i starts at example i
    draws(venv, 5)
    venv.unwrapped.restart_order([1])
    row = draws(venv, 1)[0]
    assert row[1] == 1 and row[0] == 6 * N  # only sub-env 1 starts over; sub-env 0 goes on with its 7th example


def test_bad_order_states_and_calls_before_reset_are_clear_errors() -> None:
    venv = make()
    for call in (lambda: venv.unwrapped.reseed_sub_envs([0] * N),
                 lambda: venv.unwrapped.set_order_state(venv.unwrapped.order_state())):
        with pytest.raises(ResetNeeded, match=r"call reset\(\) before"):  # the first reset would undo them
            call()
    venv.reset(seed=0)
    good = venv.unwrapped.order_state()
    other = make(num_envs=N + 1)
    other.reset(seed=0)
    with pytest.raises(ValueError, match="5 sub-envs"):
        other.unwrapped.set_order_state(good)
    with pytest.raises(ValueError, match="keys"):
        venv.unwrapped.set_order_state({"pos": good["pos"]})
    with pytest.raises(ValueError, match="perm has shape"):
        venv.unwrapped.set_order_state({**good, "perm": good["perm"][:, :10]})
    with pytest.raises(ValueError, match="sequential"):
        venv.unwrapped.set_order_state({**good, "perm": None})
    with pytest.raises(ValueError, match="pos"):
        venv.unwrapped.set_order_state({**good, "pos": good["pos"] + 10_000})
    before = venv.unwrapped.order_state()
    assert json.dumps(before, default=json_default) == json.dumps(good, default=json_default)  # refusals change nothing
    with pytest.raises(ValueError, match="seeds for 4 sub-envs"):
        venv.unwrapped.reseed_sub_envs([1, 2])

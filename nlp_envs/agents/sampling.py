"""The wave sampler: which examples the sub-envs of the native vector env play, in a seeded, resumable order.

Rollouts come in *waves*: every sub-env of the vector env plays one whole episode, all starting
together (``venv.reset()`` draws each sub-env's next example from its seeded order). Sub-envs that
finish early keep being stepped with a valid dummy action (see :func:`nlp_envs.agents.rollout.collect`),
so a wave is a batch of ``num_envs`` complete episodes: no episode is ever split across updates, and a
checkpoint between waves captures the whole data order (:meth:`WaveSampler.state_dict`). GRPO uses
*grouped* waves: the G sub-envs of a group are reset with the same seed, so they draw the same example
(same distractors, same everything).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np


class WaveSampler:
    """Waves of complete episodes on the native vector env (see the module doc).

    ``group_size > 1`` (GRPO): sub-envs ``g*G .. g*G+G-1`` are reset with one seed per wave, drawn
    from this sampler's own generator, so each group plays G copies of one example.
    """

    def __init__(self, env_id: str, env_kwargs: dict[str, Any], num_envs: int, seed: int, group_size: int = 1) -> None:
        self.venv = gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="vector_entry_point", **env_kwargs)
        self.base = getattr(self.venv, "unwrapped", self.venv)
        self.num_envs, self.seed, self.group_size = num_envs, seed, group_size
        self.rng = np.random.default_rng(seed + 1_000_003)
        self.started = False
        self.episodes = 0  # episodes started (waves x num_envs): the examples an RL agent has seen
        self.last_info: dict[str, Any] = {}

    def start(self) -> dict[str, np.ndarray]:
        if self.group_size > 1:
            # Same as reset(seed=[s_0]*G + [s_1]*G + ...): the G sub-envs of a group get one generator.
            seeds = self.rng.integers(0, 2**31 - 1, size=self.num_envs // self.group_size)
            if not self.started:
                self.venv.reset(seed=self.seed)
            self.base.reseed_sub_envs(np.repeat(seeds, self.group_size).tolist())
            obs, self.last_info = self.venv.reset()
        elif not self.started:
            obs, self.last_info = self.venv.reset(seed=self.seed)
        else:
            obs, self.last_info = self.venv.reset()
        self.started = True
        self.episodes += self.num_envs
        return obs

    def action_masks(self) -> np.ndarray:
        return np.asarray(self.base.action_masks(), dtype=bool)

    def step(self, actions: np.ndarray):
        return self.venv.step(actions)

    # data order (checkpoints): this sampler's generator and the vector env's order (per-sub-env generators
    # and permutation cursors, NlpVectorEnv.order_state); the keys are those of older checkpoints
    def state_dict(self) -> dict[str, Any]:
        return {"started": self.started, "episodes": self.episodes, "rng": self.rng.bit_generator.state,
                **self.base.order_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rng.bit_generator.state = state["rng"]
        self.episodes = int(state.get("episodes", 0))
        if state["started"]:
            self.venv.reset(seed=self.seed)  # marks the env started; the order is overwritten below
            self.base.set_order_state({k: state[k] for k in ("env_rngs", "perm", "pos")})
        self.started = state["started"]

    def close(self) -> None:
        self.venv.close()

"""TorchRL on an nlp-envs id: the native vector env batched in one ``GymWrapper``, ``check_env_specs``, and
a rollout of a masked policy (``ActionMask``, masks read from ``info["action_mask"]``) whose features
come from nlp_envs.nn.EmbeddingBagFeatures.

    python examples/clients/torchrl_rollout.py --env-id MultiChoiceQA-v0
    python examples/clients/torchrl_rollout.py --all --json out.json    # every embedded id (tests/test_clients.py)

Why ``GymWrapper(gym.make_vec(..., autoreset_mode="Disabled"))`` and not ``GymEnv(id, num_envs=4)``:
TorchRL (0.14.1) builds ``GymEnv(id, num_envs=N)`` on Gymnasium's ``AsyncVectorEnv`` in its default
NEXT_STEP autoreset mode, but its ``VecGymEnvTransform`` assumes SAME_STEP: at each episode end the
terminal observation is replaced by zeros and the next step is a reset step (action ignored, reward 0)
recorded as a transition, for any Gymnasium >= 1.1 env (CartPole-v1 included). On ids whose observation
space excludes 0 (``num_words``, ``num_options`` >= 1) ``check_env_specs`` then fails. With SAME_STEP
TorchRL reads the final observation only for a single-array observation, not a Dict. DISABLED, the mode
TorchRL's ``GymWrapper`` prefers, resets only the finished sub-envs through ``reset(options={"reset_mask":
...})``, which the native vector envs implement.

Runs with the clients extra installed (``bash scripts/setup_clients.sh``: ``.venv-clients/bin/python``).
"""

from __future__ import annotations

import argparse
import json
import time

import gymnasium as gym
import torch
from tensordict.nn import TensorDictModule
from torch import nn
from torchrl.envs import ActionMask, GymWrapper, TransformedEnv, check_env_specs
from torchrl.modules import MaskedCategorical, ProbabilisticActor

import nlp_envs
from nlp_envs.nn import EmbeddingBagFeatures


class Logits(nn.Module):
    """Observation keys (the Dict's keys, as TorchRL names them) -> action logits."""

    def __init__(self, env: gym.vector.VectorEnv) -> None:
        super().__init__()
        self.keys = list(env.single_observation_space.spaces)
        self.features = EmbeddingBagFeatures(env)
        self.head = nn.Linear(self.features.features_dim, int(env.single_action_space.n))

    def forward(self, *obs: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(dict(zip(self.keys, obs))))


def run(env_id: str, num_envs: int = 4, steps: int = 32, seed: int = 0) -> dict:
    torch.manual_seed(seed)
    # --- recipe (README "RL libraries: TorchRL") ---
    venv = gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="vector_entry_point",
                        autoreset_mode="Disabled")  # TorchRL resets finished sub-envs itself
    env = GymWrapper(venv, categorical_action_encoding=True)
    env = env.auto_register_info_dict()  # every info key (fixed-shape numpy) becomes an entry
    masked = "action_mask" in env.observation_spec.keys()  # NER, multi-label, multiple choice
    if masked:
        env = TransformedEnv(env, ActionMask())  # the action spec follows info["action_mask"]
    check_env_specs(env, seed=seed)
    logits = TensorDictModule(Logits(venv), in_keys=list(venv.single_observation_space.spaces), out_keys=["logits"])
    policy = ProbabilisticActor(logits, in_keys={"logits": "logits", **({"mask": "action_mask"} if masked else {})},
                                distribution_class=MaskedCategorical if masked else torch.distributions.Categorical,
                                return_log_prob=True)
    rollout = env.rollout(steps, policy, break_when_any_done=False)  # (num_envs, steps)
    # --- end of recipe ---
    out = {"env_id": env_id, "steps": int(rollout.numel()), "episodes": int(rollout["next", "done"].sum()),
           "masked": masked, "mean_reward": round(float(rollout["next", "reward"].mean()), 4)}
    if masked:  # every action the policy took was allowed by the mask it read
        taken = rollout["action_mask"].gather(-1, rollout["action"].unsqueeze(-1))
        out["actions_in_mask"] = bool(taken.all())
        if not out["actions_in_mask"]:
            raise AssertionError(f"{env_id}: a masked-out action was taken")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env-id", default="MultiChoiceQA-v0")
    parser.add_argument("--all", action="store_true", help="every registered id with embedded data")
    parser.add_argument("--json", default="", help="write the versions and one result per id here")
    parser.add_argument("--gymenv-check", default="", metavar="ENV_ID",
                        help="also record whether GymEnv(ENV_ID, num_envs=4) passes check_env_specs (see the doc)")
    args = parser.parse_args()
    from nlp_envs.docs import data_folder
    ids = [i for i in nlp_envs.registration.registered_ids() if data_folder(i) is None] if args.all else [args.env_id]
    results = []
    for env_id in ids:
        t0 = time.perf_counter()
        try:
            out = {**run(env_id), "status": "pass"}
        except Exception as e:  # noqa: BLE001 - reported per id
            out = {"env_id": env_id, "status": "fail", "error": f"{type(e).__name__}: {e}"[:500]}
        out["seconds"] = round(time.perf_counter() - t0, 2)
        print(json.dumps(out), flush=True)
        results.append(out)
    gymenv = gymenv_check(args.gymenv_check) if args.gymenv_check else None
    if args.json:
        import tensordict
        import torchrl

        versions = {"torchrl": torchrl.__version__, "tensordict": tensordict.__version__, "torch": torch.__version__,
                    "gymnasium": gym.__version__}
        with open(args.json, "w") as f:
            json.dump({"versions": versions, "results": results, "gymenv_num_envs": gymenv}, f, indent=1)


def gymenv_check(env_id: str) -> dict:
    """``GymEnv("nlp_envs:ENV_ID", num_envs=4)`` + ``check_env_specs``: what TorchRL builds by itself."""
    from torchrl.envs import GymEnv

    t0 = time.perf_counter()
    try:
        env = GymEnv(f"nlp_envs:{env_id}", num_envs=4)  # Gymnasium AsyncVectorEnv, NEXT_STEP autoreset
        check_env_specs(env)
        env.close()
        out = {"env_id": env_id, "status": "pass"}
    except AssertionError as e:
        out = {"env_id": env_id, "status": "fail", "error": str(e).split(" for spec")[0][:200]}
    out["seconds"] = round(time.perf_counter() - t0, 2)
    print(json.dumps({"GymEnv(num_envs=4)": out}), flush=True)
    return out


if __name__ == "__main__":
    main()

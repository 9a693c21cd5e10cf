"""Tianshou 2.x on an nlp-envs id: its collector and PPO, with nlp_envs.nn.EmbeddingBagFeatures as the
preprocess net of the actor and the critic (no other glue).

    python examples/clients/tianshou_ppo.py --env-id NerTag-v1          # a brief run: collect + PPO updates
    python examples/clients/tianshou_ppo.py --all --json out.json       # every embedded id (tests/test_clients.py)

Runs with the clients extra installed (``bash scripts/setup_clients.sh``: ``.venv-clients/bin/python``).
"""

from __future__ import annotations

import argparse
import json
import time

import gymnasium as gym
import torch
from tianshou.algorithm import PPO
from tianshou.algorithm.modelfree.reinforce import DiscreteActorPolicy
from tianshou.algorithm.optim import AdamOptimizerFactory
from tianshou.data import Collector, VectorReplayBuffer
from tianshou.env import DummyVectorEnv
from tianshou.utils.net.discrete import DiscreteActor, DiscreteCritic
from tianshou.utils.torch_utils import policy_within_training_step

import nlp_envs
from nlp_envs.nn import EmbeddingBagFeatures


def run(env_id: str, num_envs: int = 4, n_step: int = 128, seed: int = 0) -> dict:
    torch.manual_seed(seed)
    # --- recipe (README "RL libraries: Tianshou") ---
    env = gym.make(env_id)
    train_envs = DummyVectorEnv([lambda: gym.make(env_id) for _ in range(num_envs)])
    train_envs.seed(seed)
    actor = DiscreteActor(preprocess_net=EmbeddingBagFeatures(env), action_shape=env.action_space.n,
                          softmax_output=False)  # logits, for the default Categorical of DiscreteActorPolicy
    critic = DiscreteCritic(preprocess_net=EmbeddingBagFeatures(env))
    policy = DiscreteActorPolicy(actor=actor, action_space=env.action_space)
    algorithm = PPO(policy=policy, critic=critic, optim=AdamOptimizerFactory(lr=1e-3))
    buffer = VectorReplayBuffer(n_step, num_envs)
    collector = Collector(algorithm, train_envs, buffer)
    collector.reset()
    with policy_within_training_step(policy):  # what Tianshou's OnPolicyTrainer does around each step
        collect = collector.collect(n_step=n_step)  # a rollout of n_step transitions
        update = algorithm.update(buffer=buffer, batch_size=64, repeat=2)  # PPO epochs over it
    # --- end of recipe ---
    return {"env_id": env_id, "n_step": int(collect.n_collected_steps),
            "episodes": int(collect.n_collected_episodes), "ppo_loss": round(float(update.loss.mean), 4),
            "gradient_steps": int(update.gradient_steps)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env-id", default="TextCls-v0")
    parser.add_argument("--all", action="store_true", help="every registered id with embedded data")
    parser.add_argument("--json", default="", help="write the versions and one result per id here")
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
    if args.json:
        import tianshou

        versions = {"tianshou": tianshou.__version__, "torch": torch.__version__, "gymnasium": gym.__version__}
        with open(args.json, "w") as f:
            json.dump({"versions": versions, "results": results}, f, indent=1)


if __name__ == "__main__":
    main()

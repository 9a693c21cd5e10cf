"""Lesson 06 - dialogue: select a reply (``DialogSelect-v0``), then write one (``DialogReply-v0``, GRPO).

What you learn
    * the two dialogue tasks on one corpus and one vocabulary: **selection** (read the context, pick
      the true reply among K = 10 candidates: one step, reward 1 if right; metric hits@1, chance 1/K)
      and **generation** (write the reply token by token, ``[EOS]`` ends it; reward = unigram F1 with
      the reference at the end);
    * selection with SB3 PPO: the project's bag extractor scores each candidate by the elementwise
      product of its pooled embedding with the pooled context (``K * d`` features), PPO learns the head;
    * generation with the project's transformer agent, :func:`nlp_envs.agents.train.train` with ``algo="grpo"``:
      a tiny GPT-2-style decoder, first a supervised (MLE) warm start on the train replies
      (``warm_start_examples``), then GRPO (G = ``group_size`` replies sampled per context,
      advantage = return minus the group mean, over the group std) with a per-token KL penalty to the
      warm-start policy (``kl_coef``); all of it in a run directory you can ``nlp-envs eval``;
    * evaluating a generator honestly and cheaply: ``load_policy(run_dir)`` gives a greedy
      policy for ``nlp_envs.evaluate``; greedy decoding re-reads the whole context for every token, so
      on a CPU we score a fixed slice of the test split (``num_shards=16, shard_index=0``), the same
      slice for every policy.

How to run
    python examples/06_dialogue_select_then_generate.py            # ~75 s on 2 CPU cores
    python examples/06_dialogue_select_then_generate.py --smoke    # tiny budgets, for CI

Expected output (seed 0, measured on 2 CPU cores: 72 s in all)
    [selection] DialogSelect-v0: 6021 train pairs, K = 10 candidates; observation keys [...]
    [selection] trained SB3 PPO for 12,288 steps in ~20 s
    | selection policy | test hits@1 |
    | random           |       0.110 |
    | SB3 PPO (bag)    |       0.260 |
    [generation] warm start 1,024 examples + GRPO 2,000 steps in ~24 s (run directory /tmp/.../grpo)
    [generation] GRPO episode return (reply F1 of sampled replies): 0.042 -> 0.104 -> 0.063 -> 0.103 over 4 updates
    | generation policy (test slice: 75 replies) | F1    | mean reply tokens |
    | random tokens                              | 0.016 |              31.6 |
    | warm start + GRPO (tiny decoder)           | 0.204 |              22.3 |
    example: last context turn 'hi, i need a lift, picking me up at park avenue, leaving at 9 pm'
      -> reply 'what would you like?'
      reference 'where are you heading?' (F1 0.25)
    OK: selection beats random hits@1 (0.260 > 1/K = 0.100; random baseline 0.110); generation F1 after
        warm start + GRPO beats a random policy's (0.204 > 0.016)
    (--smoke: hits@1 ~0.13, generation F1 ~0.09 on 19 test replies)

    The budgets are a lesson's: ``--select-steps 20480`` reaches hits@1 ~0.40; the GRPO returns above
    are noisy (4 updates of 4 contexts x 8 samples) and most of the F1 comes from the warm start.
"""

from __future__ import annotations

import argparse
import csv
import os
import tempfile
import time
import warnings
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")  # the agent's GPT-2 decoder: no deprecation notices

import gymnasium as gym  # noqa: E402
import torch  # noqa: E402
from stable_baselines3 import PPO  # noqa: E402
from stable_baselines3.common.vec_env import VecMonitor  # noqa: E402

import nlp_envs  # noqa: E402  (registers the ids; nlp_envs.evaluate)
from nlp_envs.agents.baselines import make_baseline  # noqa: E402
from nlp_envs.agents.run import load_policy  # noqa: E402  (what nlp_envs.agents.load_policy dispatches to for these runs)
from nlp_envs.agents.extractors import EmbeddingBagExtractor  # noqa: E402
from nlp_envs.agents.sb3 import load_hyperparams, make_sb3_vec_env  # noqa: E402
from nlp_envs.agents.train import train as train_transformer  # noqa: E402

SELECT_ID, REPLY_ID = "DialogSelect-v0", "DialogReply-v0"
#: Generation env kwargs: the last 64 context tokens (the default keeps 128): half the decoder's work.
REPLY_KWARGS = {"max_context_tokens": 64}
#: The test slice scored for generation: examples 0, 16, 32, ... of the test split.
TEST_SLICE = {"num_shards": 16, "shard_index": 0}


def selection(total: int, seed: int) -> tuple[float, float]:
    """SB3 PPO on DialogSelect-v0; returns (test hits@1 of PPO, of the random baseline)."""
    hp = {**load_hyperparams(SELECT_ID, "sb3-ppo"), "n_envs": 64, "n_steps": 8}  # 512 steps per rollout
    env = VecMonitor(make_sb3_vec_env(SELECT_ID, hp["n_envs"], env_kwargs={"split": "train"}))
    base = env.venv.venv.env  # the template single env of the native vector env
    print(f"[selection] {SELECT_ID}: {base.num_examples} train pairs, K = {env.action_space.n} candidates; "
          f"observation keys {sorted(env.observation_space.spaces)}")
    model = PPO(
        "MultiInputPolicy", env,
        n_steps=hp["n_steps"], batch_size=hp["batch_size"], n_epochs=hp["n_epochs"],
        learning_rate=hp["learning_rate"], gamma=hp["gamma"], gae_lambda=hp["gae_lambda"],
        policy_kwargs={"features_extractor_class": EmbeddingBagExtractor,
                       "features_extractor_kwargs": hp["extractor_kwargs"], "net_arch": hp["net_arch"]},
        seed=seed, device="cpu",
    )
    start = time.perf_counter()
    model.learn(total_timesteps=total)
    print(f"[selection] trained SB3 PPO for {model.num_timesteps:,} steps in {time.perf_counter() - start:.1f} s")
    env.close()
    ours = nlp_envs.evaluate(SELECT_ID, model, split="test")["hits_at_1"]
    rand = nlp_envs.evaluate(SELECT_ID, make_baseline("random", SELECT_ID, seed=seed), split="test")["hits_at_1"]
    print(f"| {'selection policy':16s} | test hits@1 |\n|------------------|-------------|")
    print(f"| {'random':16s} | {rand:11.3f} |\n| {'SB3 PPO (bag)':16s} | {ours:11.3f} |")
    return ours, rand


def generation(warm_start: int, total: int, num_envs: int, seed: int, out: Path) -> tuple[dict, dict]:
    """Warm start + GRPO on DialogReply-v0; returns the test-slice metrics of (GRPO policy, random)."""
    start = time.perf_counter()
    train_transformer(
        REPLY_ID, "grpo", backbone="tiny", total_steps=total, seed=seed, out=str(out),
        env_kwargs=REPLY_KWARGS, warm_start_examples=warm_start, num_envs=num_envs, group_size=8,
        lr=1e-3, kl_coef=0.05, eval_split="", progress=False,  # we evaluate below, on the test slice
    )
    print(f"[generation] warm start {warm_start:,} examples + GRPO {total:,} steps in "
          f"{time.perf_counter() - start:.1f} s (run directory {out})")
    with open(out / "metrics.csv", newline="") as f:
        returns = [float(row["charts/episode_return"]) for row in csv.DictReader(f) if row["charts/episode_return"]]
    print(f"[generation] GRPO episode return (reply F1 of sampled replies): "
          f"{' -> '.join(f'{r:.3f}' for r in returns)} over {len(returns)} updates")

    _, env_kwargs, policy = load_policy(out)  # greedy decoding of the trained decoder
    # evaluate caps num_envs at the split size, not the shard's: pass at most the slice's size ourselves
    n_test = gym.make(REPLY_ID, split="test", **env_kwargs).unwrapped.num_examples
    slice_size = -(-n_test // TEST_SLICE["num_shards"])  # shard 0 holds ceil(n / num_shards) examples
    eval_kwargs = {"split": "test", "num_envs": min(64, slice_size), **TEST_SLICE}
    ours = nlp_envs.evaluate(REPLY_ID, policy, **eval_kwargs, **env_kwargs)
    rand = nlp_envs.evaluate(REPLY_ID, make_baseline("random", REPLY_ID, seed=seed, **REPLY_KWARGS),
                             **eval_kwargs, **REPLY_KWARGS)
    title = f"generation policy (test slice: {ours['num_examples']} replies)"
    print(f"| {title:42s} | F1    | mean reply tokens |\n|{'-' * 44}|-------|-------------------|")
    for name, m in (("random tokens", rand), ("warm start + GRPO (tiny decoder)", ours)):
        print(f"| {name:42s} | {m['f1']:.3f} | {m['mean_reply_tokens']:17.1f} |")

    # One reply, to see what the numbers mean (a single env pinned to the first test example).
    env = gym.make(REPLY_ID, split="test", info_mode="full", **env_kwargs)
    obs, _ = env.reset(options={"index": 0})
    done = False
    while not done:
        action = int(policy({k: v[None] for k, v in obs.items()}).argmax(1)[0])
        obs, _, terminated, truncated, info = env.step(action)
        done = terminated or truncated
    context = env.unwrapped.context_turns(0)[-1]["text"]
    print(f"example: last context turn {context!r}\n  -> reply {info['reply']!r}\n  reference {info['reference']!r} "
          f"(F1 {info['score']:.2f})")
    env.close()
    return ours, rand


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--select-steps", type=int, default=12_288, help="SB3 PPO env steps (selection)")
    parser.add_argument("--warm-start", type=int, default=1_024, help="MLE warm-start examples (generation)")
    parser.add_argument("--grpo-steps", type=int, default=2_000, help="GRPO env steps = reply tokens (generation)")
    parser.add_argument("--num-envs", type=int, default=32, help="GRPO episodes per update (8 per context)")
    parser.add_argument("--out", default=None, help="run directory of the generator (default: a temp folder)")
    parser.add_argument("--smoke", action="store_true", help="tiny budgets, for CI")
    args = parser.parse_args()
    if args.smoke:
        args.select_steps, args.warm_start, args.grpo_steps = 3_072, 128, 100
        args.num_envs = 16
        TEST_SLICE["num_shards"] = 64  # 19 test replies
    torch.set_num_threads(1)  # small networks: one thread is fastest, and polite on shared CPUs
    # transformers' FutureWarning about the name of GPT-2's KV-cache argument (inside the agent's decoder)
    warnings.filterwarnings("ignore", category=FutureWarning, module="transformers")

    hits, hits_random = selection(args.select_steps, args.seed)
    k = gym.spec(SELECT_ID).kwargs.get("num_candidates", 10)
    with tempfile.TemporaryDirectory(prefix="nlp_envs_lesson06_") as tmp:
        out = Path(args.out or Path(tmp) / "grpo")
        ours, rand = generation(args.warm_start, args.grpo_steps, num_envs=args.num_envs, seed=args.seed, out=out)

    # The key claims: selection beats chance (1/K) and the random baseline; the warm-started, GRPO-tuned
    # generator writes replies whose unigram F1 beats a random policy's on the same test slice.
    margin = 0.01 if args.smoke else 0.1
    assert hits > 1 / k + margin and hits > hits_random, (hits, hits_random)
    assert ours["f1"] > rand["f1"] + margin, (ours["f1"], rand["f1"])
    print(f"OK: selection beats random hits@1 ({hits:.3f} > 1/K = {1 / k:.3f}; random baseline {hits_random:.3f}); "
          f"generation F1 after warm start + GRPO beats a random policy's ({ours['f1']:.3f} > {rand['f1']:.3f})")


if __name__ == "__main__":
    main()

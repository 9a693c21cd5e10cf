"""Lesson 01 - the anatomy of an nlp-envs environment.

What you learn
    * what ``gym.make("TextCls-v0")`` gives you: the action space (one action per label), the Dict
      observation space (token ids + attention mask) and how to read them back as text;
    * the Gymnasium loop: ``reset(seed=...)`` -> ``(obs, info)``, ``step(action)`` ->
      ``(obs, reward, terminated, truncated, info)``; what ``info`` carries (the text, the gold label);
    * ``render_mode="ansi"``: the current state as text;
    * seeding: the same seed gives the same episode;
    * a random agent's score is chance (1 / number of labels), the floor every agent must beat.

How to run
    python examples/01_env_anatomy.py            # 2,000 random episodes, ~5 s on 2 CPU cores
    python examples/01_env_anatomy.py --smoke    # 200 episodes, for CI

Expected output (numbers from the embedded corpus; the accuracy varies a little with --episodes)
    action space: Discrete(16) -> labels check_balance, transfer_money, ...
    observation space: 'attention_mask': Box(0, 1, (64,), int64) ... 'input_ids': Box(0, 1671, (64,), int64)
    reset(seed=0): the text, its token ids, info keys ['index', 'label', 'text', 'truncated_input']
    step(14) [return_item]: reward 0.0 terminated True truncated False (one text per episode)
    random agent over 2000 episodes: accuracy 0.06 (chance 1/16 = 0.0625)
    OK: ...
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402

import nlp_envs  # noqa: E402,F401  (importing nlp_envs registers the ids)

ENV_ID = "TextCls-v0"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=2000, help="episodes of the random agent")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--smoke", action="store_true", help="a short run for CI (200 episodes)")
    args = parser.parse_args()
    episodes = 200 if args.smoke else args.episodes

    # 1. Spaces ------------------------------------------------------------------------------------
    env = gym.make(ENV_ID, render_mode="ansi", info_mode="full")  # full: info adds the raw text
    base = env.unwrapped  # the env without Gymnasium's checker wrappers: task-specific attributes live here
    print(f"action space: {env.action_space} -> labels {', '.join(base.label_names)}")
    print("observation space:")
    for key, space in env.observation_space.spaces.items():
        print(f"  {key!r}: {space}")

    # 2. reset: the first observation and info -------------------------------------------------------
    obs, info = env.reset(seed=args.seed)
    assert env.observation_space.contains(obs)
    n_tokens = int(obs["attention_mask"].sum())
    print(f"\nreset(seed={args.seed}): info keys {sorted(info)}")
    print(f"  text : {info['text']!r}")
    print(f"  input_ids[:{n_tokens}] = {obs['input_ids'][:n_tokens].tolist()}")
    print(f"  decoded back: {base.encoder.decode(obs['input_ids'][:n_tokens].tolist())!r}")
    print(f"  gold label: {info['label']} = {base.label_names[info['label']]}")

    # 3. render: the state as text --------------------------------------------------------------------
    print("\nrender():\n" + env.render())

    # 4. step: act once --------------------------------------------------------------------------------
    env.action_space.seed(args.seed)  # sample() draws from the space's own generator: seed it too
    action = int(env.action_space.sample())
    obs, reward, terminated, truncated, info = env.step(action)
    print(f"\nstep({action}) [{base.label_names[action]}]: reward {reward} terminated {terminated} "
          f"truncated {truncated}")
    print(f"  info: prediction {info['prediction']}, correct {info['correct']}")
    print("render():\n" + env.render())
    assert terminated and not truncated, "one text per episode by default"
    assert reward == float(action == info["label"])

    # 5. Seeding: the same seed replays the same episode -------------------------------------------------
    again, again_info = env.reset(seed=args.seed)
    first, first_info = gym.make(ENV_ID).reset(seed=args.seed)
    assert again_info["index"] == first_info["index"]
    assert all(np.array_equal(again[k], first[k]) for k in first)
    print(f"\nreset(seed={args.seed}) again: same example #{again_info['index']} (seeding works)")

    # 6. A random agent: the chance floor ---------------------------------------------------------------
    rng = np.random.default_rng(args.seed)
    rewards = []
    obs, info = env.reset(seed=args.seed)
    for _ in range(episodes):
        obs, reward, terminated, truncated, info = env.step(int(rng.integers(base.num_labels)))
        rewards.append(reward)
        if terminated or truncated:
            obs, info = env.reset()
    accuracy = float(np.mean(rewards))
    chance = 1 / base.num_labels
    print(f"\nrandom agent over {episodes} episodes: accuracy {accuracy:.3f} "
          f"(chance 1/{base.num_labels} = {chance:.4f})")
    env.close()

    # The key claim: a random agent scores chance (within 4 standard errors).
    stderr = np.sqrt(chance * (1 - chance) / episodes)
    assert abs(accuracy - chance) < 4 * stderr, f"random accuracy {accuracy:.3f} is not chance {chance:.3f}"
    print("OK: spaces, reset/step, render, info and seeding behave as documented; random = chance")


if __name__ == "__main__":
    main()

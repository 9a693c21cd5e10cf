"""Lesson 10 - CleanRL-style PPO, in one file, on any nlp-envs id (any family), with Gymnasium 1.x autoreset.

What you learn
    * the structure of CleanRL's ``ppo.py`` (config dataclass, env construction, agent, rollout, GAE,
      clipped-surrogate updates, TensorBoard logging), applied to text envs with only two changes of
      substance: the feature net and the handling of NEXT_STEP reset steps;
    * the env: the native vector env, ``gym.make_vec(id, vectorization_mode="vector_entry_point",
      vector_kwargs={"autoreset_mode": m}, obs_mode="flat")`` (one ``int64`` Box per sub-env, the Dict
      flattened), wrapped in Gymnasium's ``RecordEpisodeStatistics``;
    * the feature net: :class:`nlp_envs.nn.EmbeddingBagFeatures` (mean of token embeddings + scaled task
      keys) instead of an MLP over raw token ids (which does not learn);
    * autoreset (``--autoreset-mode``): ``SameStep`` (default) returns the next episode's first
      observation on the step that ends one, as CleanRL assumes; ``NextStep`` (Gymnasium's default)
      spends one extra step per episode on the reset (action ignored, reward 0), so those steps are
      left out of the loss (``valid``); for one-step tasks that is half the steps;
    * action masks: when the env gives ``info["action_mask"]`` (on every step: NER, multi-label,
      multiple choice), masked actions get ``-inf`` logits in the rollout and in the update;
    * episode logging: every finished episode is logged (``info["episode"]`` with its ``_episode`` mask,
      in both modes), and the count is checked against the sub-envs' terminations.

How to run
    python examples/10_cleanrl_ppo.py                                  # TextCls-v0, 100k steps
    python examples/10_cleanrl_ppo.py --env-id NerTag-v1 --autoreset-mode NextStep
    python examples/10_cleanrl_ppo.py --smoke                          # 2,048 steps, ~15 s, for CI
    tensorboard --logdir runs                                          # the curves (--no-track: none)

Expected output (``--smoke``, 2 CPU cores; the returns of so short a run are near random)
    iteration 8/8 step 2048 episodes 2048 mean return (last 100) 0.060 SPS 1080
    episode logging: 2048 of 2048 finished episodes logged (SameStep)
    TextCls-v0 test split (1000 examples): {'accuracy': 0.063, 'macro_f1': 0.0074}
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import time
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch
import torch.nn as nn
import torch.optim as optim
from torch.distributions.categorical import Categorical

import nlp_envs
from nlp_envs.nn import EmbeddingBagFeatures


@dataclass
class Args:
    exp_name: str = "cleanrl_ppo"
    """the name of this experiment (the run folder is runs/{env_id}__{exp_name}__{seed}__{time})"""
    seed: int = 1
    """seed of the experiment (torch, numpy, random and the envs)"""
    torch_deterministic: bool = True
    """torch.backends.cudnn.deterministic"""
    track: bool = True
    """log to TensorBoard under runs/"""
    env_id: str = "TextCls-v0"
    """any nlp-envs id"""
    autoreset_mode: str = "SameStep"
    """Gymnasium autoreset mode of the vector env: SameStep or NextStep"""
    total_timesteps: int = 100_000
    """total env steps"""
    learning_rate: float = 1e-3
    """Adam learning rate"""
    num_envs: int = 16
    """parallel sub-envs"""
    num_steps: int = 64
    """steps per sub-env per rollout"""
    anneal_lr: bool = True
    """linearly anneal the learning rate to 0"""
    gamma: float = 0.99
    """discount factor"""
    gae_lambda: float = 0.95
    """lambda of generalized advantage estimation"""
    num_minibatches: int = 4
    """minibatches per epoch"""
    update_epochs: int = 4
    """epochs over each rollout"""
    norm_adv: bool = True
    """normalize advantages per minibatch"""
    clip_coef: float = 0.2
    """surrogate clipping coefficient"""
    clip_vloss: bool = True
    """clip the value loss too"""
    ent_coef: float = 0.01
    """entropy bonus coefficient"""
    vf_coef: float = 0.5
    """value loss coefficient"""
    max_grad_norm: float = 0.5
    """gradient clipping norm"""
    embed_dim: int = 64
    """token embedding width of the feature net"""
    eval_split: str = "test"
    """split of the final nlp_envs.evaluate ('' to skip)"""
    smoke: bool = False
    """a short run for CI (2,048 steps, 8 envs x 32 steps)"""

    # filled in at runtime
    batch_size: int = 0
    """num_envs * num_steps"""
    minibatch_size: int = 0
    """batch_size // num_minibatches"""
    num_iterations: int = 0
    """total_timesteps // batch_size"""


def parse_args(argv: list[str] | None = None) -> Args:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for f in dataclasses.fields(Args):
        if f.name in ("batch_size", "minibatch_size", "num_iterations"):
            continue
        flag = "--" + f.name.replace("_", "-")
        if f.type in ("bool", bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=f.default)
        else:
            parser.add_argument(flag, type=type(f.default), default=f.default)
    args = Args(**vars(parser.parse_args(argv)))
    if args.smoke:
        args.total_timesteps, args.num_envs, args.num_steps = 2048, 8, 32
    args.batch_size = args.num_envs * args.num_steps
    args.minibatch_size = args.batch_size // args.num_minibatches
    args.num_iterations = max(1, args.total_timesteps // args.batch_size)
    return args


def layer_init(layer: nn.Linear, std: float = np.sqrt(2), bias_const: float = 0.0) -> nn.Linear:
    torch.nn.init.orthogonal_(layer.weight, std)
    torch.nn.init.constant_(layer.bias, bias_const)
    return layer


class Agent(nn.Module):
    def __init__(self, envs: gym.vector.VectorEnv, embed_dim: int) -> None:
        super().__init__()
        self.features = EmbeddingBagFeatures(envs, embed_dim=embed_dim, features_dim=128)
        self.critic = layer_init(nn.Linear(128, 1), std=1.0)
        self.actor = layer_init(nn.Linear(128, envs.single_action_space.n), std=0.01)

    def get_value(self, x: torch.Tensor) -> torch.Tensor:
        return self.critic(self.features(x))

    def get_action_and_value(self, x: torch.Tensor, mask: torch.Tensor, action: torch.Tensor | None = None):
        hidden = self.features(x)
        logits = self.actor(hidden).masked_fill(~mask, -1e9)
        probs = Categorical(logits=logits)
        if action is None:
            action = probs.sample()
        return action, probs.log_prob(action), probs.entropy(), self.critic(hidden)


def action_mask(infos: dict, num_envs: int, n: int) -> np.ndarray:
    """``info["action_mask"]`` when the env has one (on every step), else all True."""
    if "action_mask" in infos:
        return np.asarray(infos["action_mask"], dtype=bool)
    return np.ones((num_envs, n), dtype=bool)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    run_name = f"{args.env_id}__{args.exp_name}__{args.seed}__{int(time.time())}"
    writer = None
    if args.track:
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(f"runs/{run_name}")
        writer.add_text("hyperparameters", "|param|value|\n|-|-|\n" + "\n".join(
            f"|{k}|{v}|" for k, v in vars(args).items()))

    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    torch.backends.cudnn.deterministic = args.torch_deterministic
    device = torch.device("cpu")

    # env setup
    mode = gym.vector.AutoresetMode(args.autoreset_mode)
    envs = gym.make_vec(args.env_id, num_envs=args.num_envs, vectorization_mode="vector_entry_point",
                        vector_kwargs={"autoreset_mode": mode}, obs_mode="flat")
    envs = gym.wrappers.vector.RecordEpisodeStatistics(envs)
    assert isinstance(envs.single_action_space, gym.spaces.Discrete), "only discrete action spaces are supported"
    n_actions = int(envs.single_action_space.n)

    agent = Agent(envs, args.embed_dim).to(device)
    optimizer = optim.Adam(agent.parameters(), lr=args.learning_rate, eps=1e-5)

    # storage
    obs = torch.zeros((args.num_steps, args.num_envs) + envs.single_observation_space.shape, dtype=torch.long)
    masks = torch.zeros((args.num_steps, args.num_envs, n_actions), dtype=torch.bool)
    actions = torch.zeros((args.num_steps, args.num_envs), dtype=torch.long)
    logprobs = torch.zeros((args.num_steps, args.num_envs))
    rewards = torch.zeros((args.num_steps, args.num_envs))
    dones = torch.zeros((args.num_steps, args.num_envs))
    values = torch.zeros((args.num_steps, args.num_envs))
    valid = torch.ones((args.num_steps, args.num_envs))  # 0: a NEXT_STEP reset step (action ignored)

    global_step = 0
    episodes_logged = episodes_ended = 0
    returns: list[float] = []
    start_time = time.time()
    next_obs, infos = envs.reset(seed=args.seed)
    next_obs = torch.as_tensor(next_obs)
    next_mask = torch.as_tensor(action_mask(infos, args.num_envs, n_actions))
    next_done = torch.zeros(args.num_envs)
    resetting = np.zeros(args.num_envs, dtype=bool)  # NEXT_STEP: the next step of these sub-envs is a reset

    for iteration in range(1, args.num_iterations + 1):
        if args.anneal_lr:
            frac = 1.0 - (iteration - 1.0) / args.num_iterations
            optimizer.param_groups[0]["lr"] = frac * args.learning_rate

        for step in range(args.num_steps):
            global_step += args.num_envs
            obs[step] = next_obs
            masks[step] = next_mask
            dones[step] = next_done
            valid[step] = torch.as_tensor(~resetting, dtype=torch.float32)

            with torch.no_grad():
                action, logprob, _, value = agent.get_action_and_value(next_obs, next_mask)
                values[step] = value.flatten()
            actions[step] = action
            logprobs[step] = logprob

            next_obs, reward, terminations, truncations, infos = envs.step(action.numpy())
            done = np.logical_or(terminations, truncations)
            episodes_ended += int(done.sum())
            resetting = done if mode == gym.vector.AutoresetMode.NEXT_STEP else np.zeros_like(done)
            rewards[step] = torch.as_tensor(reward, dtype=torch.float32)
            next_obs = torch.as_tensor(next_obs)
            next_mask = torch.as_tensor(action_mask(infos, args.num_envs, n_actions))
            next_done = torch.as_tensor(done, dtype=torch.float32)

            if "episode" in infos:  # RecordEpisodeStatistics: every episode that ended on this step
                for i in np.flatnonzero(infos["_episode"]):
                    episodes_logged += 1
                    r, length = float(infos["episode"]["r"][i]), int(infos["episode"]["l"][i])
                    returns.append(r)
                    if writer is not None:
                        writer.add_scalar("charts/episodic_return", r, global_step)
                        writer.add_scalar("charts/episodic_length", length, global_step)

        # bootstrap value if not done
        with torch.no_grad():
            next_value = agent.get_value(next_obs).reshape(1, -1)
            advantages = torch.zeros_like(rewards)
            lastgaelam = 0
            for t in reversed(range(args.num_steps)):
                if t == args.num_steps - 1:
                    nextnonterminal = 1.0 - next_done
                    nextvalues = next_value
                else:
                    nextnonterminal = 1.0 - dones[t + 1]
                    nextvalues = values[t + 1]
                delta = rewards[t] + args.gamma * nextvalues * nextnonterminal - values[t]
                advantages[t] = lastgaelam = delta + args.gamma * args.gae_lambda * nextnonterminal * lastgaelam
            returns_t = advantages + values

        # flatten the batch, keeping only real transitions (NEXT_STEP reset steps out)
        keep = valid.reshape(-1).bool()
        b_obs = obs.reshape((-1,) + envs.single_observation_space.shape)[keep]
        b_masks = masks.reshape(-1, n_actions)[keep]
        b_logprobs = logprobs.reshape(-1)[keep]
        b_actions = actions.reshape(-1)[keep]
        b_advantages = advantages.reshape(-1)[keep]
        b_returns = returns_t.reshape(-1)[keep]
        b_values = values.reshape(-1)[keep]
        batch = len(b_obs)
        minibatch = max(1, batch // args.num_minibatches)

        # optimizing the policy and value network
        b_inds = np.arange(batch)
        clipfracs = []
        for epoch in range(args.update_epochs):
            np.random.shuffle(b_inds)
            for start in range(0, batch, minibatch):
                mb_inds = b_inds[start : start + minibatch]
                _, newlogprob, entropy, newvalue = agent.get_action_and_value(
                    b_obs[mb_inds], b_masks[mb_inds], b_actions[mb_inds])
                logratio = newlogprob - b_logprobs[mb_inds]
                ratio = logratio.exp()
                with torch.no_grad():
                    old_approx_kl = (-logratio).mean()
                    approx_kl = ((ratio - 1) - logratio).mean()
                    clipfracs += [((ratio - 1.0).abs() > args.clip_coef).float().mean().item()]
                mb_advantages = b_advantages[mb_inds]
                if args.norm_adv and len(mb_inds) > 1:
                    mb_advantages = (mb_advantages - mb_advantages.mean()) / (mb_advantages.std() + 1e-8)
                # policy loss
                pg_loss1 = -mb_advantages * ratio
                pg_loss2 = -mb_advantages * torch.clamp(ratio, 1 - args.clip_coef, 1 + args.clip_coef)
                pg_loss = torch.max(pg_loss1, pg_loss2).mean()
                # value loss
                newvalue = newvalue.view(-1)
                if args.clip_vloss:
                    v_loss_unclipped = (newvalue - b_returns[mb_inds]) ** 2
                    v_clipped = b_values[mb_inds] + torch.clamp(
                        newvalue - b_values[mb_inds], -args.clip_coef, args.clip_coef)
                    v_loss_clipped = (v_clipped - b_returns[mb_inds]) ** 2
                    v_loss = 0.5 * torch.max(v_loss_unclipped, v_loss_clipped).mean()
                else:
                    v_loss = 0.5 * ((newvalue - b_returns[mb_inds]) ** 2).mean()
                entropy_loss = entropy.mean()
                loss = pg_loss - args.ent_coef * entropy_loss + v_loss * args.vf_coef
                optimizer.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(agent.parameters(), args.max_grad_norm)
                optimizer.step()

        y_pred, y_true = b_values.numpy(), b_returns.numpy()
        var_y = np.var(y_true)
        explained_var = np.nan if var_y == 0 else 1 - np.var(y_true - y_pred) / var_y
        sps = int(global_step / (time.time() - start_time))
        recent = np.mean(returns[-100:]) if returns else float("nan")
        print(f"iteration {iteration}/{args.num_iterations} step {global_step} episodes {episodes_logged} "
              f"mean return (last 100) {recent:.3f} SPS {sps}")
        if writer is not None:
            writer.add_scalar("charts/learning_rate", optimizer.param_groups[0]["lr"], global_step)
            writer.add_scalar("losses/value_loss", v_loss.item(), global_step)
            writer.add_scalar("losses/policy_loss", pg_loss.item(), global_step)
            writer.add_scalar("losses/entropy", entropy_loss.item(), global_step)
            writer.add_scalar("losses/old_approx_kl", old_approx_kl.item(), global_step)
            writer.add_scalar("losses/approx_kl", approx_kl.item(), global_step)
            writer.add_scalar("losses/clipfrac", np.mean(clipfracs), global_step)
            writer.add_scalar("losses/explained_variance", explained_var, global_step)
            writer.add_scalar("charts/SPS", sps, global_step)

    envs.close()
    assert episodes_logged == episodes_ended, f"logged {episodes_logged} of {episodes_ended} episodes"
    print(f"episode logging: {episodes_logged} of {episodes_ended} finished episodes logged ({mode.value})")
    result = {"episodes": episodes_logged, "mean_return_last_100": float(np.mean(returns[-100:])) if returns else None}

    if args.eval_split:  # one pass over the split, greedy, masks respected
        agent.eval()

        def policy(flat_obs: np.ndarray, action_masks: np.ndarray) -> np.ndarray:
            with torch.no_grad():
                logits = agent.actor(agent.features(torch.as_tensor(flat_obs)))
                return logits.masked_fill(~torch.as_tensor(action_masks), -1e9).numpy()

        kwargs = {"split": args.eval_split} if nlp_envs.registration.eval_only_split(args.env_id) is None else {}
        metrics = nlp_envs.evaluate(args.env_id, policy, num_envs=64, obs_mode="flat", **kwargs)
        shown = {k: round(v, 4) for k, v in metrics.items() if isinstance(v, float)}
        print(f"{args.env_id} {metrics['split']} split ({metrics['num_examples']} examples): {shown}")
        result["eval"] = metrics
    if writer is not None:
        writer.close()
    return result


if __name__ == "__main__":
    main()

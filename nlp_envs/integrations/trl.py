"""TRL on nlp-envs: a text-mode split as a prompt dataset, the env's reward as TRL reward functions.

Text mode (``gym.make(env_id, obs_mode="text")``, :mod:`nlp_envs.text_mode`) shows a prompt and scores a
whole answer string with the task's own reward. This module hands both to `TRL
<https://huggingface.co/docs/trl>`_:

* :func:`prompt_dataset` -- one row per example of a split: ``prompt`` (the env's prompt; with
  ``conversational=True`` TRL's chat format), ``index`` and ``seed`` (the reset that reproduces it:
  ``reset(seed=seed, options={"index": index})``), ``answer`` (the gold answer), ``env_id``, ``split``;
* :func:`reward_funcs` -- TRL reward functions ``f(prompts, completions, index, seed, **columns)``: the main
  one resets a cached text env as the row says and steps the completion, so its score **is** the env's
  step reward (same parser, same kernel, same ``parse_error_reward``); with ``format_reward=True`` a second
  one gives 1.0 when the completion parses and 0.0 otherwise.

Example (GRPO on the embedded intent corpus)::

    from trl import GRPOConfig, GRPOTrainer
    from nlp_envs.integrations.trl import prompt_dataset, reward_funcs

    trainer = GRPOTrainer(
        model="Qwen/Qwen2.5-0.5B-Instruct",          # or a model object
        reward_funcs=reward_funcs("TextCls-v0"),
        train_dataset=prompt_dataset("TextCls-v0"),   # split="train"
        args=GRPOConfig(output_dir="runs/grpo-textcls", max_completion_length=16),
    )
    trainer.train()

    # evaluate the result in text mode over the whole test split (the family's metrics)
    import nlp_envs
    from nlp_envs.integrations.hf import generation_policy
    policy = generation_policy(trainer.model, trainer.processing_class, max_new_tokens=16)
    print(nlp_envs.evaluate("TextCls-v0", policy, "test", obs_mode="text", num_envs=32))

Env kwargs (``max_prompt_chars=``, ``parse_error_reward=``, ``dataset=``, ``data_dir=``...) go to both
functions, the same ones: the reward functions check that each row's prompt is the prompt their env shows
for that row (a cheap string comparison) and fail naming the row otherwise -- a dataset built with other
kwargs or for another id is an error, not a silently wrong reward. The split comes from the row's
``split`` column, so one ``reward_funcs(id)`` scores the train dataset and an eval dataset alike.

Needs ``datasets`` (a dependency of nlp-envs) for :func:`prompt_dataset` and ``trl`` to train
(``pip install -e ".[llm]"``, part of the ``dev`` extra); nothing of TRL is imported here.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import gymnasium as gym

__all__ = ["EnvReward", "completion_text", "prompt_dataset", "reward_funcs", "generation_policy"]

#: The columns of a :func:`prompt_dataset` row.
COLUMNS = ("prompt", "index", "seed", "answer", "env_id", "split")


def _text_env(env_id: str, split: str, env_kwargs: Mapping[str, Any]) -> gym.Env:
    """A text-mode env of ``env_id`` on ``split`` (fails clearly for a family without a text codec)."""
    if not isinstance(env_id, str):
        raise TypeError(f"env_id must be an env id such as 'TextCls-v0', got {type(env_id).__name__}")
    for key in ("obs_mode", "split"):
        if key in env_kwargs:
            raise ValueError(f"{key}= is set by this function (obs_mode='text'; the split is an argument or the "
                             f"row's 'split' column); do not pass it in env kwargs")
    import nlp_envs  # noqa: F401  (registers the ids)
    from nlp_envs.family import family_of_env

    family = family_of_env(env_id)
    if family.text is None:
        raise ValueError(f"{env_id} ({family.name}) has no text mode yet: Family.text is None, so "
                         f"obs_mode='text' is unavailable for it (nlp_envs.text_mode)")
    return gym.make(env_id, obs_mode="text", split=split, **dict(env_kwargs))


def prompt_dataset(env_id: str, split: str = "train", *, conversational: bool = False, limit: int | None = None,
                   seed: int = 0, **env_kwargs: Any) -> Any:
    """The examples of ``split`` as a TRL prompt dataset (a ``datasets.Dataset``), in index order.

    Each row is one example ``i`` (``i < limit`` when ``limit`` is given), rendered by resetting a text-mode
    env with ``reset(seed=seed + i, options={"index": i})`` (the seed matters to families that draw at reset,
    e.g. DialogSelect's candidates):

    * ``prompt``: the env's prompt (a ``str``), or with ``conversational=True`` the family's chat messages
      (``[{"role": "user", "content": prompt}]``, :meth:`nlp_envs.text_mode.TextCodec.messages`), which TRL
      renders with the tokenizer's chat template;
    * ``index``, ``seed``: the reset that reproduces the row (what :func:`reward_funcs` replays);
    * ``answer``: the gold answer in the family's answer format (``env.unwrapped.gold_answer()``);
    * ``env_id``, ``split``: where the row comes from.

    Example::

        >>> ds = prompt_dataset("TextCls-v0", "test", limit=2)
        >>> ds.column_names
        ['prompt', 'index', 'seed', 'answer', 'env_id', 'split']
        >>> ds[0]["prompt"].startswith("Classify the text")
        True

    Args:
        env_id: a registered env id whose family has a text mode.
        split: a split name (``"train"``, ``"validation"``, ``"test"``).
        conversational: chat messages instead of plain prompts.
        limit: only the first ``limit`` examples.
        seed: the reset seed of example ``i`` is ``seed + i``.
        env_kwargs: env kwargs (``max_prompt_chars=``, ``dataset=``...); pass the same to :func:`reward_funcs`.
    """
    from datasets import Dataset

    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed={seed!r} must be an int >= 0")
    env = _text_env(env_id, split, env_kwargs)
    try:
        base = env.unwrapped
        n = int(base.num_examples)
        if limit is not None:
            if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
                raise ValueError(f"limit={limit!r} must be an int >= 0 (or None: every example)")
            n = min(n, limit)
        rows: dict[str, list[Any]] = {c: [] for c in COLUMNS}
        codec = base.text_codec
        for i in range(n):
            prompt, _ = env.reset(seed=seed + i, options={"index": i})
            rows["prompt"].append(codec.messages(base, prompt) if conversational else prompt)
            rows["index"].append(i)
            rows["seed"].append(seed + i)
            rows["answer"].append(base.gold_answer())
            rows["env_id"].append(env_id)
            rows["split"].append(split)
    finally:
        env.close()
    return Dataset.from_dict(rows)


def completion_text(completion: Any) -> str:
    """The answer string of a TRL completion: a ``str`` as is; a conversational completion (a list of chat
    messages) gives the content of its last assistant message (text parts joined, for content lists)."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, Mapping):
        completion = [completion]
    if isinstance(completion, Sequence) and all(isinstance(m, Mapping) for m in completion):
        if not completion:
            return ""
        assistant = [m for m in completion if m.get("role") == "assistant"]
        content = (assistant or list(completion))[-1].get("content")
        if content is None:
            return ""
        if isinstance(content, str):
            return content
        if isinstance(content, Sequence):  # content parts: [{"type": "text", "text": ...}, ...]
            return "".join(p.get("text") or "" for p in content if isinstance(p, Mapping) and p.get("type") == "text")
    raise TypeError(f"a completion must be a str or a list of chat messages, got {type(completion).__name__} "
                    f"{completion!r:.80}")


def _messages_key(prompt: Any) -> Any:
    """A comparable form of a prompt: a ``str``, or the (role, content) pairs of chat messages."""
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, Sequence) and all(isinstance(m, Mapping) for m in prompt):
        return [(m.get("role"), m.get("content")) for m in prompt]
    return prompt


class EnvReward:
    """A TRL reward function that replays each row in a text-mode env (see :func:`reward_funcs`).

    ``kind="reward"``: the env's step reward of the completion; ``kind="format"``: 1.0 when the completion
    parses (the family's codec), else 0.0. One cached env per split (built on first use; not pickled).
    Call signature (TRL's): ``f(prompts, completions, index, seed, **columns) -> list[float]``.
    """

    def __init__(self, env_id: str, kind: str = "reward", *, check_prompts: bool = True, **env_kwargs: Any) -> None:
        if kind not in ("reward", "format"):
            raise ValueError(f"kind={kind!r}: expected 'reward' or 'format'")
        self.env_id = env_id
        self.kind = kind
        self.check_prompts = check_prompts
        self.env_kwargs = dict(env_kwargs)
        self.default_split = self.env_kwargs.pop("split", "train")
        self.__name__ = f"{env_id}_{kind}"  # TRL logs rewards/<__name__>/mean
        self.__qualname__ = self.__name__
        self._envs: dict[str, gym.Env] = {}
        _text_env(env_id, self.default_split, self.env_kwargs).close()  # fail now for an id without a text mode

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_envs": {}}

    def __repr__(self) -> str:
        kw = "".join(f", {k}={v!r}" for k, v in self.env_kwargs.items())
        return f"EnvReward({self.env_id!r}, {self.kind!r}{kw})"

    def env(self, split: str) -> gym.Env:
        """The cached text-mode env of ``split``."""
        env = self._envs.get(split)
        if env is None:
            env = self._envs[split] = _text_env(self.env_id, split, self.env_kwargs)
        return env

    def close(self) -> None:
        for env in self._envs.values():
            env.close()
        self._envs.clear()

    def __call__(self, prompts: Sequence[Any], completions: Sequence[Any], index: Sequence[Any] | None = None,
                 seed: Sequence[Any] | None = None, split: Sequence[str] | None = None,
                 env_id: Sequence[str] | None = None, **kwargs: Any) -> list[float]:
        n = len(completions)
        for name, col in (("index", index), ("seed", seed)):
            if col is None:
                raise ValueError(f"{self.__name__}: no {name!r} column; build the dataset with "
                                 f"nlp_envs.integrations.trl.prompt_dataset({self.env_id!r}, ...)")
            if len(col) != n:
                raise ValueError(f"{self.__name__}: {len(col)} {name} values for {n} completions")
        if prompts is not None and len(prompts) != n:
            raise ValueError(f"{self.__name__}: {len(prompts)} prompts for {n} completions")
        out: list[float] = []
        for k in range(n):
            row_split = self.default_split if split is None else split[k]
            if env_id is not None and env_id[k] != self.env_id:
                raise ValueError(f"{self.__name__}: row {k} (index {index[k]}) is from {env_id[k]!r}, but these "
                                 f"reward functions score {self.env_id!r}")
            env = self.env(row_split)
            i, s = operator.index(index[k]), operator.index(seed[k])
            shown, _ = env.reset(seed=s, options={"index": i})
            if self.check_prompts and prompts is not None:
                self._check_prompt(env, k, i, s, row_split, prompts[k], shown)
            answer = completion_text(completions[k])
            if self.kind == "format":
                out.append(1.0 if env.unwrapped.parse_answer(answer).ok else 0.0)
            else:
                _, reward, _, _, _ = env.step(answer)
                out.append(float(reward))
        return out

    def _check_prompt(self, env: gym.Env, k: int, i: int, s: int, split: str, prompt: Any, shown: str) -> None:
        if isinstance(prompt, str):
            if prompt == shown:
                return
        elif _messages_key(prompt) == _messages_key(env.unwrapped.text_codec.messages(env.unwrapped, shown)):
            return
        kw = "".join(f", {a}={v!r}" for a, v in self.env_kwargs.items())
        row = prompt if isinstance(prompt, str) else repr(_messages_key(prompt))
        want = shown if isinstance(prompt, str) else repr(_messages_key(
            env.unwrapped.text_codec.messages(env.unwrapped, shown)))
        j = next((n for n, (a, b) in enumerate(zip(row, want)) if a != b), min(len(row), len(want)))
        at = max(0, j - 40)
        raise ValueError(
            f"{self.__name__}: row {k} (index {i}, seed {s}, split {split!r}): its prompt is not the prompt that "
            f"{self.env_id} shows for this example with env kwargs {{{kw[2:]}}} -- the dataset was built for "
            f"another id, split or env kwargs. Build it with prompt_dataset({self.env_id!r}, {split!r}{kw}) and "
            f"pass reward_funcs the same env kwargs. They differ from character {j} on:\n"
            f"  row prompt: {row[at:j + 80]!r}\n  env prompt: {want[at:j + 80]!r}")


def reward_funcs(env_id: str, *, format_reward: bool = False, check_prompts: bool = True,
                 **env_kwargs: Any) -> list[Callable[..., list[float]]]:
    """TRL reward functions of ``env_id`` in text mode, for rows of :func:`prompt_dataset`.

    The first scores each completion with the env itself: a cached text-mode env is reset as the row says
    (``reset(seed=row["seed"], options={"index": row["index"]})``, on the row's ``split``) and stepped
    with the completion; the score is that step's reward, exactly (a parse error scores
    ``parse_error_reward``). Conversational completions score the content of their assistant message. With
    ``format_reward=True`` a second function gives 1.0 when the completion parses, else 0.0.

    Each function is an :class:`EnvReward` named ``"<env_id>_reward"`` / ``"<env_id>_format"`` (TRL logs
    ``rewards/<name>/mean``) with TRL's signature ``f(prompts, completions, index, seed, **columns)``.
    Unless ``check_prompts=False``, each row's prompt must equal the env's prompt for it, else a
    ``ValueError`` names the row (a dataset of another id, split or env kwargs).

    Example::

        from trl import GRPOConfig, GRPOTrainer
        trainer = GRPOTrainer(model=model, processing_class=tokenizer,
                              reward_funcs=reward_funcs("TextCls-v0"),
                              train_dataset=prompt_dataset("TextCls-v0"),
                              args=GRPOConfig(output_dir="runs/grpo", max_completion_length=16))

    Args:
        env_id: a registered env id whose family has a text mode.
        format_reward: also return the parses-or-not function.
        check_prompts: compare each row's prompt with the env's (a string comparison per completion).
        env_kwargs: the env kwargs given to :func:`prompt_dataset` (``split=`` here is only the default for
            rows without a ``split`` column).
    """
    funcs: list[Callable[..., list[float]]] = [EnvReward(env_id, "reward", check_prompts=check_prompts, **env_kwargs)]
    if format_reward:
        funcs.append(EnvReward(env_id, "format", check_prompts=check_prompts, **env_kwargs))
    return funcs


def __getattr__(name: str) -> Any:
    if name == "generation_policy":  # the evaluation side lives with the transformers helpers
        from nlp_envs.integrations.hf import generation_policy

        return generation_policy
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

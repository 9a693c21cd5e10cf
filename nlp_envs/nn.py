"""A small torch feature net for nlp-envs observations, for any RL client (CleanRL, Tianshou, TorchRL, SB3).

``import nlp_envs`` does not import this module (nor torch); ``from nlp_envs.nn import
EmbeddingBagFeatures`` does.

:class:`EmbeddingBagFeatures` maps an observation -- the Dict of ``obs_mode="dict"`` or the flat
``int64`` vector of ``obs_mode="flat"`` (same values, the Dict's keys in order), batched, as numpy or
torch, any integer or float dtype -- to a ``(batch, features_dim)`` float tensor:

* each token-id key (``input_ids``, ``context_ids``, ``reply_ids``, ``question_ids``, ``option_ids``,
  ``candidate_ids``: a key ``X_ids`` whose mask is ``X_mask``, or ``attention_mask`` for
  ``input_ids``) becomes the mean of its tokens' embeddings over the mask (one ``nn.EmbeddingBag``
  shared by all keys; a 2-D key such as ``candidate_ids`` ``(K, R)`` gives one mean per row);
* NER observations (``word_starts`` and ``position``) also get the embedding of the current word's
  first subword;
* every other key (positions, counts, chosen labels, previous tags) is scaled to ``[0, 1]`` by its
  space's upper bound;
* all of it is concatenated and goes through ``Linear(., features_dim)`` + ``ReLU``.

```python
from nlp_envs.nn import EmbeddingBagFeatures
env = gym.make("TextCls-v0", obs_mode="flat")
net = EmbeddingBagFeatures(env)                       # or the Dict space: EmbeddingBagFeatures(space)
features = net(torch.as_tensor(obs[None]))            # (1, net.features_dim)
```

It also follows the preprocess-net protocol of Tianshou (2.x): ``net.get_output_dim()``, and called with
a recurrent ``state`` argument (``net(obs, state)``, as Tianshou's ``DiscreteActor``/``DiscreteCritic``
call it) it returns ``(features, state)``; so ``DiscreteActor(preprocess_net=EmbeddingBagFeatures(env),
...)`` works on the Dict observations that Tianshou's collector batches (docs/clients.md).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from torch import nn

__all__ = ["EmbeddingBagFeatures", "dict_space_of"]


#: ``forward``'s default ``state``: absent means "return the features alone".
_NO_STATE = object()


def dict_space_of(env_or_space: Any) -> spaces.Dict:
    """The single-env ``Dict`` observation space of an nlp-envs env, vector env, wrapper, or a Dict space."""
    if isinstance(env_or_space, spaces.Dict):
        return env_or_space
    base = getattr(env_or_space, "unwrapped", env_or_space)
    template = getattr(base, "env", base)  # native vector envs keep a single template env
    space = getattr(template, "dict_observation_space", None)
    if isinstance(space, spaces.Dict):
        return space
    raise TypeError(
        f"expected an nlp-envs env or a Dict observation space, got {type(env_or_space).__name__}; a flat Box "
        "does not say where each key is: pass the env (or env.unwrapped.dict_observation_space)"
    )


def _mask_key(key: str) -> str:
    return "attention_mask" if key == "input_ids" else key[: -len("_ids")] + "_mask"


class EmbeddingBagFeatures(nn.Module):
    """Mean-of-embeddings features of an nlp-envs observation (see the module doc).

    :param env_or_space: an nlp-envs env (single, vector, wrapped; either ``obs_mode``) or its Dict space.
    :param embed_dim: width of the token embeddings.
    :param features_dim: width of the output (``self.features_dim``).
    """

    def __init__(self, env_or_space: Any, embed_dim: int = 64, features_dim: int = 128) -> None:
        super().__init__()
        space = dict_space_of(env_or_space)
        self.features_dim = features_dim
        self.layout: dict[str, tuple[int, int, tuple[int, ...]]] = {}  # key -> (start, stop, shape)
        start = 0
        for k, sp in space.spaces.items():
            n = int(np.prod(sp.shape))
            self.layout[k] = (start, start + n, tuple(sp.shape))
            start += n
        self.flat_size = start
        self.token_keys = [k for k in space.spaces if k.endswith("_ids") and _mask_key(k) in space.spaces]
        used = set(self.token_keys) | {_mask_key(k) for k in self.token_keys}
        self.other_keys = [k for k in space.spaces if k not in used]
        vocab = max(int(np.max(space[k].high)) for k in self.token_keys) + 1 if self.token_keys else 1
        self.embedding = nn.EmbeddingBag(vocab, embed_dim, mode="sum")
        self.word_pointer = {"word_starts", "position", "input_ids"} <= set(space.spaces)
        scale = [np.maximum(np.asarray(space[k].high, dtype=np.float32).reshape(-1), 1.0) for k in self.other_keys]
        self.register_buffer("scale", torch.as_tensor(np.concatenate(scale) if scale else np.ones(0, np.float32)))
        width = sum(int(np.prod(self.layout[k][2][:-1])) * embed_dim for k in self.token_keys)
        width += embed_dim * self.word_pointer + int(self.scale.numel())
        self.head = nn.Sequential(nn.Linear(width, features_dim), nn.ReLU())

    def split(self, obs: Any) -> dict[str, torch.Tensor]:
        """A flat batch ``(B, flat_size)`` (or a Dict batch) as a dict of ``(B, *shape)`` tensors."""
        device = self.embedding.weight.device
        if isinstance(obs, dict) or hasattr(obs, "keys"):
            return {k: torch.as_tensor(np.asarray(obs[k]) if not torch.is_tensor(obs[k]) else obs[k], device=device)
                    for k in self.layout}
        flat = torch.as_tensor(obs, device=device) if not torch.is_tensor(obs) else obs.to(device)
        if flat.dim() == 1:
            flat = flat[None]
        if flat.shape[-1] != self.flat_size:
            raise ValueError(f"flat observation of width {flat.shape[-1]}; expected {self.flat_size}")
        return {k: flat[:, a:b].reshape(-1, *shape) for k, (a, b, shape) in self.layout.items()}

    def get_output_dim(self) -> int:
        """``features_dim`` (Tianshou's ``ModuleWithVectorOutput`` protocol)."""
        return self.features_dim

    def forward(self, obs: Any, state: Any = _NO_STATE, info: Any = None) -> Any:
        """``(batch, features_dim)`` features; with a ``state`` argument (Tianshou), ``(features, state)``."""
        features = self._features(obs)
        return features if state is _NO_STATE else (features, state)

    def _features(self, obs: Any) -> torch.Tensor:
        x = self.split(obs)
        batch = next(iter(x.values())).shape[0]
        parts = []
        for k in self.token_keys:
            ids = x[k].long()
            mask = x[_mask_key(k)].float()
            length = ids.shape[-1]
            ids2, mask2 = ids.reshape(-1, length), mask.reshape(-1, length)
            weights = mask2 / mask2.sum(dim=1, keepdim=True).clamp(min=1.0)
            bag = self.embedding(ids2, per_sample_weights=weights)  # (B * rows, E)
            parts.append(bag.reshape(batch, -1))
        if self.word_pointer:
            starts, pos = x["word_starts"].long(), x["position"].long().reshape(batch, 1)
            pos = pos.clamp(max=starts.shape[1] - 1)
            token = x["input_ids"].long().gather(1, starts.gather(1, pos))  # (B, 1): the current word's first subword
            parts.append(self.embedding(token))
        if self.other_keys:
            other = torch.cat([x[k].reshape(batch, -1).float() for k in self.other_keys], dim=1)
            parts.append(other / self.scale)
        return self.head(torch.cat(parts, dim=1))

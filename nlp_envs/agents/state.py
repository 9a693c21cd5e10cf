"""The algorithms' own state, typed, saved in every checkpoint beside the sampler's data order.

:class:`RunState` (``run.state``) holds what an algorithm keeps across iterations and must find again on
resume: the sample-efficiency curve's progress, REINFORCE's moving-average baseline, the supervised data
orders, the supervised early-stopping state and where generation's MLE warm start stopped. In a checkpoint
it is the ``data_order`` state (``data_order.json`` + ``.safetensors``, see :mod:`nlp_envs.agents.runfolder`)
with the same keys as the untyped dict of earlier versions (``curve_done``, ``ema_baseline``, ``order``,
``warm_start/order``, ``early_stopping``, ``warm_start/summary``), so their checkpoints resume.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: the checkpoint key of the warm start's summary
WARM_START_SUMMARY = "warm_start/summary"


@dataclass
class DataOrder:
    """A seeded, resumable order over the examples of the train split (the supervised batches): the
    generator that draws the permutation of the next pass, the current permutation, the position in it."""

    rng: dict[str, Any]  # numpy bit generator state
    perm: np.ndarray
    pos: int = 0

    @classmethod
    def fresh(cls, n: int, seed: int) -> DataOrder:
        """The order of a new run: a permutation of ``n`` examples from ``seed``. The saved generator state is
        the one *before* that permutation (as in earlier versions): the second pass repeats the first."""
        rng = np.random.default_rng(seed)
        state = rng.bit_generator.state
        return cls(rng=state, perm=rng.permutation(n), pos=0)

    def to_dict(self) -> dict[str, Any]:
        return {"rng": self.rng, "perm": self.perm, "pos": self.pos}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DataOrder:
        return cls(rng=d["rng"], perm=d["perm"], pos=int(d["pos"]))


@dataclass
class EarlyStoppingState:
    """Validation-based early stopping (:class:`nlp_envs.agents.supervised.EarlyStopping`): the best value of
    the main metric and after how many examples, evaluations since an improvement, when the next one is due,
    the validation curve ``[[examples, value], ...]``, the file of the best weights, seconds spent."""

    best: float | None = None
    best_examples: int = 0
    bad: int = 0
    next: int = 0
    curve: list[list[float]] = field(default_factory=list)
    best_file: str | None = None
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"best": self.best, "best_examples": self.best_examples, "bad": self.bad, "next": self.next,
                "curve": self.curve, "best_file": self.best_file, "seconds": self.seconds}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EarlyStoppingState:
        return cls(best=d.get("best"), best_examples=d.get("best_examples", 0), bad=d.get("bad", 0),
                   next=d.get("next", 0), curve=list(d.get("curve") or []), best_file=d.get("best_file"),
                   seconds=d.get("seconds", 0.0))


@dataclass
class WarmStartSummary:
    """Where generation's MLE warm start stopped (:func:`nlp_envs.agents.supervised.fit`): ``OUT/warm_start.json``
    and the ``warm_start/<key>`` entries of ``final_metrics.json`` are :meth:`to_dict`.

    ``early_stopping``: ``"on"``, ``"off"``, ``"unavailable (no validation split)"`` or ``"not evaluated
    (...)"``; the fields after ``examples`` are set when validation ran (``val_<metric>`` is ``best``)."""

    early_stopping: str
    examples: int
    best_examples: int | None = None
    best_epoch: float | None = None
    metric: str | None = None
    best: float | None = None
    val_curve: list[list[float]] | None = None
    stopped_early: bool | None = None
    val_seconds: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """The summary as earlier versions wrote it (same keys, same order)."""
        out: dict[str, Any] = {"early_stopping": self.early_stopping, "examples": self.examples}
        if self.best_examples is None:
            return out
        out.update({"best_examples": self.best_examples, "best_epoch": self.best_epoch,
                    f"val_{self.metric}": self.best, "val_curve": self.val_curve,
                    "stopped_early": self.stopped_early, "val_seconds": self.val_seconds})
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> WarmStartSummary:
        metric = next((k[4:] for k in d if k.startswith("val_") and k not in ("val_curve", "val_seconds")), None)
        return cls(early_stopping=str(d.get("early_stopping", "")), examples=int(d.get("examples", 0)),
                   best_examples=d.get("best_examples"), best_epoch=d.get("best_epoch"), metric=metric,
                   best=None if metric is None else d[f"val_{metric}"], val_curve=d.get("val_curve"),
                   stopped_early=d.get("stopped_early"), val_seconds=d.get("val_seconds"))


@dataclass
class RunState:
    """Everything an algorithm keeps across iterations and a resume must restore (``run.state``).

    ``orders``: the supervised data orders by name (``"order"``: the supervised algorithm's batches,
    ``"warm_start/order"``: the warm start's)."""

    curve_done: int = 0  # sample-efficiency curve points evaluated so far (``curve_points``)
    ema_baseline: float | None = None  # REINFORCE's moving average of episode returns (``baseline="ema"``)
    orders: dict[str, DataOrder] = field(default_factory=dict)
    early_stopping: EarlyStoppingState | None = None  # the supervised algorithm's (the warm start's is not saved)
    warm_start: WarmStartSummary | None = None

    def to_dict(self) -> dict[str, Any]:
        """The checkpoint form: the keys of earlier versions' untyped dict."""
        out: dict[str, Any] = {}
        if self.curve_done:
            out["curve_done"] = self.curve_done
        if self.ema_baseline is not None:
            out["ema_baseline"] = self.ema_baseline
        for name, order in self.orders.items():
            out[name] = order.to_dict()
        if self.early_stopping is not None:
            out["early_stopping"] = self.early_stopping.to_dict()
        if self.warm_start is not None:
            out[WARM_START_SUMMARY] = self.warm_start.to_dict()
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunState:
        """From a checkpoint's ``data_order`` state (its ``sampler`` entry removed); unknown keys are ignored."""
        state = cls(curve_done=int(d.get("curve_done", 0)), ema_baseline=d.get("ema_baseline"))
        for name, value in d.items():
            if name.endswith("order") and isinstance(value, dict):
                state.orders[name] = DataOrder.from_dict(value)
        if d.get("early_stopping") is not None:
            state.early_stopping = EarlyStoppingState.from_dict(d["early_stopping"])
        if d.get(WARM_START_SUMMARY) is not None:
            state.warm_start = WarmStartSummary.from_dict(d[WARM_START_SUMMARY])
        return state

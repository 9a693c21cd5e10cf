"""Agents that solve nlp-envs: transformer policies (REINFORCE, PPO, GRPO, supervised) and SB3 glue.

``load_policy(run_dir)`` reads ``run_dir/run.json`` and dispatches on its ``kind``: ``"transformer"``
(:mod:`nlp_envs.agents.run`) or ``"sb3"`` (:mod:`nlp_envs.agents.sb3`); modules are imported lazily.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def load_policy(run_dir: str | Path) -> tuple[str, dict[str, Any], Any]:
    """``(env_id, env_kwargs, policy)`` of a finished run, ``policy`` usable by ``nlp_envs.evaluate``."""
    from nlp_envs.agents.runfolder import RunError, read_run_json

    path = Path(run_dir) / "run.json"
    if not path.exists():
        raise FileNotFoundError(f"{run_dir} is not a run directory (no run.json)")
    kind = read_run_json(run_dir).get("kind")  # RunError (a ValueError) naming a damaged run.json
    if kind == "transformer":
        from nlp_envs.agents.run import load_policy as load

        return load(run_dir)
    if kind == "sb3":
        from nlp_envs.agents.sb3 import load_policy as load_sb3  # type: ignore[import-not-found]

        return load_sb3(run_dir)
    raise RunError(f"{path}: unknown run kind {kind!r} (expected 'transformer' or 'sb3')")


def train(*args: Any, **kwargs: Any) -> dict[str, Any]:
    """See :func:`nlp_envs.agents.train.train`."""
    from nlp_envs.agents.train import train as _train

    return _train(*args, **kwargs)


__all__ = ["load_policy", "train"]

"""``KEY=VALUE`` command-line settings, one meaning in ``nlp-envs train``, ``eval`` and ``bench``.

* ``--env-kwarg KEY=VALUE`` (repeatable): an env kwarg, passed to ``gym.make`` / :func:`nlp_envs.evaluate`.
  The value is read as JSON when it parses (``64``, ``0.2``, ``true``, ``null``, ``[1, 2]``,
  ``{"a": 1}``), else kept as a string (``dataset=reviews.csv``, ``split=train[80%:]``).
* ``--set KEY=VALUE`` (repeatable): a setting of the agent being trained (a field of its config in
  :mod:`nlp_envs.agents.config`, or an SB3 hyperparameter), typed by that config.

A key given twice: the last one wins. A setting that also has its own flag (``seed`` and ``--seed``,
``total_steps`` and ``--total-steps``) may be given either way; both with different values is an error
(:func:`take_flag_setting`).

This module imports nothing from the CLI or the agents, so both can use it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any


def parse_kv(items: Iterable[str] | None, flag: str = "--env-kwarg") -> dict[str, Any]:
    """``["max_length=32", "dataset=x.csv"]`` -> ``{"max_length": 32, "dataset": "x.csv"}`` (values JSON
    when they parse, else strings). Raises ``ValueError`` naming ``flag`` for an item without ``=`` or
    with an empty key."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, raw = str(item).partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValueError(f"{flag} expects KEY=VALUE, got {item!r} (e.g. {flag} max_length=32)")
        try:
            out[key] = json.loads(raw)
        except json.JSONDecodeError:
            out[key] = raw
    return out


def take_flag_setting(settings: dict[str, Any], key: str, flag: str, flag_value: Any, default: Any) -> Any:
    """Remove ``key`` from ``settings`` (the ``--set`` values) and return the one value of ``key`` and its own
    ``flag``: the flag's if given (not None), else the ``--set`` one, else ``default``. Both given with
    different values raises ``ValueError`` naming them."""
    via_set = settings.pop(key, None)
    if flag_value is not None and via_set is not None and via_set != flag_value:
        raise ValueError(
            f"{flag} {flag_value} and --set {key}={via_set} disagree: give the {key} once ({flag} N)"
        )
    if flag_value is not None:
        return flag_value
    return via_set if via_set is not None else default

"""The user cache directory (trained vocabularies, tokenized Arrow data) and small file helpers.

Location: ``$NLP_ENVS_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/nlp_envs``, else ``~/.cache/nlp_envs``.
Nothing is ever written into a data directory.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


class CacheWarning(UserWarning):
    """A damaged cache file or entry was found and is being rebuilt (one line, once per repair)."""


def cache_dir(*parts: str) -> Path:
    """The cache directory (or a sub-folder of it), created on demand."""
    root = os.environ.get("NLP_ENVS_CACHE_DIR")
    if root:
        base = Path(root).expanduser()
    else:
        xdg = os.environ.get("XDG_CACHE_HOME")
        base = (Path(xdg) if xdg else Path.home() / ".cache") / "nlp_envs"
    path = base.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (temp file in the same folder, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def hub_offline() -> bool:
    """True when the environment forbids Hugging Face hub access."""
    flags = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE")
    return any(os.environ.get(f, "").strip().lower() in {"1", "true", "yes", "on"} for f in flags)

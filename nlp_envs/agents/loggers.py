"""Training logs: ``OUT/metrics.csv`` (resumable), TensorBoard ``OUT/tb/`` and a tqdm bar on rank 0; a quiet
logger on the other ranks. Every metric is defined in ``nlp_envs/agents/README.md``."""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any


class Logger:
    """``OUT/metrics.csv`` + TensorBoard ``OUT/tb/`` + a tqdm bar (metrics defined in nlp_envs/agents/README.md)."""

    def __init__(self, out: Path, total: int, initial: int, progress: bool, resume: bool) -> None:
        from torch.utils.tensorboard import SummaryWriter
        from tqdm.auto import tqdm

        self.path = out / "metrics.csv"
        self.columns: list[str] | None = None
        if resume and self.path.exists():
            try:
                self.columns = self._truncate(initial)
            except (UnicodeDecodeError, csv.Error) as e:  # a damaged log does not block the resume
                import warnings

                aside = self.path.with_name("metrics.csv.damaged")
                os.replace(self.path, aside)
                warnings.warn(f"{self.path} is damaged ({e}): moved to {aside}, logging afresh", stacklevel=2)
        elif self.path.exists():
            self.path.unlink()
        # resuming at step S: TensorBoard hides the events after S written before the interruption
        self.tb = SummaryWriter(str(out / "tb"), purge_step=initial + 1 if resume else None)
        self.bar = tqdm(total=total, initial=initial, disable=not progress, unit="step", dynamic_ncols=True)
        self.last: dict[str, float] = {}

    def log(self, step: int, metrics: dict[str, float]) -> None:
        row = {"step": step, **{k: float(v) for k, v in metrics.items()}}
        if self.columns is None or not set(row) <= set(self.columns):
            old_rows: list[dict[str, str]] = []
            if self.columns is not None and self.path.exists():
                with open(self.path, newline="") as f:
                    old_rows = list(csv.DictReader(f))
            self.columns = (self.columns or []) + [k for k in row if k not in (self.columns or [])]
            self._rewrite(self.columns, old_rows)  # a new metric: rewrite with the wider header
        with open(self.path, "a", newline="") as f:
            csv.writer(f).writerow([_fmt(row.get(c, "")) for c in self.columns])
        for k, v in metrics.items():
            self.tb.add_scalar(k, float(v), step)
        self.last = row
        self.bar.n = step
        shown = {k: f"{row[k]:.3g}" for k in ("charts/episode_return", "losses/loss") if k in row}
        self.bar.set_postfix(shown, refresh=False)
        self.bar.refresh()

    def close(self) -> None:
        self.bar.close()
        self.tb.close()

    def _rewrite(self, columns: list[str], rows: list[dict[str, str]]) -> None:
        """Replace metrics.csv atomically (a kill never leaves it half-written)."""
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "w", newline="") as f:
            w = csv.DictWriter(f, columns)
            w.writeheader()
            w.writerows(rows)
        os.replace(tmp, self.path)

    def _truncate(self, step: int) -> list[str] | None:
        """Resuming at checkpoint step ``step``: drop the rows logged after it (that work is redone) and a
        last row cut short by a kill; return the header."""
        with open(self.path, newline="") as f:
            text = f.read()
        lines = text.splitlines(keepends=True)
        if lines and not lines[-1].endswith("\n"):
            lines = lines[:-1]  # the process died while appending this row
        rows = list(csv.reader(lines))
        if not rows:
            return None
        header, body = rows[0], rows[1:]
        keep = [r for r in body if len(r) == len(header) and _step_of(r[0]) is not None and _step_of(r[0]) <= step]
        if len(keep) != len(body) or len(lines) != len(text.splitlines(keepends=True)):
            self._rewrite(header, [dict(zip(header, r)) for r in keep])
        return header


class QuietLogger:
    """The logger of ranks > 0: keeps the last (rank-averaged) row, writes nothing."""

    def __init__(self) -> None:
        self.last: dict[str, float] = {}
        self.tb = _NoWriter()

    def log(self, step: int, metrics: dict[str, float]) -> None:
        self.last = {"step": step, **{k: float(v) for k, v in metrics.items()}}

    def close(self) -> None:
        pass


class _NoWriter:
    def add_scalar(self, *args: Any, **kwargs: Any) -> None:
        pass


def _step_of(cell: str) -> float | None:
    """The step of a metrics.csv row; None for a damaged one (dropped on resume)."""
    try:
        return float(cell)
    except ValueError:
        return None


def _fmt(v: Any) -> Any:
    return repr(v) if isinstance(v, float) else v

"""Run folders that cannot run code, cannot be silently overwritten and say what is wrong with them.

* **State without pickle.** Checkpoint state that is not model weights (optimizer, RNG states, data
  order, algorithm state) is written by :func:`save_state` as ``STEM.json`` (plain JSON; numpy arrays
  inline as base64 of their raw bytes, tuples and non-string dict keys tagged) plus, when it holds
  torch tensors, ``STEM.safetensors``. :func:`load_state` reads them back with ``json`` and
  ``safetensors`` only: no pickle, no ``torch.load``, so no file of a run folder can execute code.
* **Manifest.** Every checkpoint ends with ``manifest.json`` (size and SHA-256 of each file), written
  last: :func:`verify_checkpoint` names the first damaged, missing or truncated file, and
  :func:`checkpoint_problem` points at the previous checkpoint (``checkpoint.prev/``) when that one is
  intact. A manifest catches accidents (a bad disk, a half-copied folder); it is no defence against a
  crafted folder (whoever edits a file can edit the manifest) -- the loaders above are that defence.
* **Pickles refused.** Checkpoints of older versions (``optimizer.pt``, ``rng.pt``, ``data_order.pt``,
  pickled) and pickle files planted in a checkpoint are refused with a message, never opened.
* **No silent overwrite.** :func:`check_out` refuses to train into a folder that holds a run unless
  asked to resume it or to overwrite it; :func:`clear_run` removes only the files a run writes.
* **SB3 models.** :func:`load_sb3_tensors` reads the ``.pth`` entries of an SB3 ``model.zip`` with
  ``torch.load(weights_only=True)`` and never its ``data`` entry (where SB3 keeps cloudpickled fields).

:class:`RunError` (a ``ValueError``) is what the command-line entry points print as one message.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch


class RunError(ValueError):
    """A problem with a run's settings or folder, shown by the CLIs as a message (no traceback)."""


class CheckpointError(RunError):
    """A checkpoint that cannot be loaded: damaged, incomplete, of an older format, or holding a pickle."""


#: suffixes of pickle-based formats: never opened from a run folder (refused when found in a checkpoint)
PICKLE_SUFFIXES = (".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".joblib", ".bin")
MANIFEST = "manifest.json"
PREVIOUS = "checkpoint.prev"  # the checkpoint before the current one (kept while training)


# -- JSON + safetensors state ------------------------------------------------------------------------
def _encode(obj: Any, tensors: dict[str, torch.Tensor], where: str) -> Any:
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, torch.Tensor):
        key = f"t{len(tensors)}"
        tensors[key] = obj.detach().to("cpu").contiguous().clone()
        return {"__t": "tensor", "key": key}
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind not in "biufc":
            raise TypeError(f"{where}: numpy array of dtype {obj.dtype} cannot be saved without pickle")
        data = np.ascontiguousarray(obj)
        return {"__t": "ndarray", "dtype": data.dtype.str, "shape": list(data.shape),
                "b64": base64.b64encode(data.tobytes()).decode("ascii")}
    if isinstance(obj, np.generic):
        if obj.dtype.kind not in "biufc":
            raise TypeError(f"{where}: numpy scalar of dtype {obj.dtype} cannot be saved without pickle")
        return {"__t": "npscalar", "dtype": obj.dtype.str, "v": obj.item()}
    if isinstance(obj, tuple):
        return {"__t": "tuple", "v": [_encode(v, tensors, f"{where}[{i}]") for i, v in enumerate(obj)]}
    if isinstance(obj, list):
        return [_encode(v, tensors, f"{where}[{i}]") for i, v in enumerate(obj)]
    if isinstance(obj, dict):
        if all(isinstance(k, str) for k in obj) and "__t" not in obj:
            return {k: _encode(v, tensors, f"{where}.{k}") for k, v in obj.items()}
        items = []
        for k, v in obj.items():
            if not isinstance(k, (str, int, bool)) and k is not None:
                raise TypeError(f"{where}: dict key {k!r} of type {type(k).__name__} cannot be saved")
            items.append([k, _encode(v, tensors, f"{where}[{k!r}]")])
        return {"__t": "dict", "v": items}
    raise TypeError(f"{where}: {type(obj).__name__} cannot be saved without pickle "
                    f"(checkpoint state holds JSON values, numpy arrays and torch tensors only)")


def _decode(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(obj, list):
        return [_decode(v, tensors) for v in obj]
    if not isinstance(obj, dict):
        return obj
    tag = obj.get("__t")
    if tag is None:
        return {k: _decode(v, tensors) for k, v in obj.items()}
    if tag == "tensor":
        if obj["key"] not in tensors:
            raise ValueError(f"tensor {obj['key']!r} is missing from the .safetensors file")
        return tensors[obj["key"]]
    if tag == "ndarray":
        dtype = np.dtype(obj["dtype"])
        if dtype.kind not in "biufc":
            raise ValueError(f"array dtype {dtype} is not a plain numeric type")
        return np.frombuffer(base64.b64decode(obj["b64"]), dtype=dtype).reshape(obj["shape"]).copy()
    if tag == "npscalar":
        dtype = np.dtype(obj["dtype"])
        if dtype.kind not in "biufc":
            raise ValueError(f"scalar dtype {dtype} is not a plain numeric type")
        return dtype.type(obj["v"])
    if tag == "tuple":
        return tuple(_decode(v, tensors) for v in obj["v"])
    if tag == "dict":
        return {k: _decode(v, tensors) for k, v in obj["v"]}
    raise ValueError(f"unknown tag {tag!r}")


def save_state(obj: Any, folder: Path, stem: str) -> list[Path]:
    """Write ``obj`` as ``folder/STEM.json`` (+ ``STEM.safetensors`` when it holds tensors); the paths."""
    from safetensors.torch import save_file

    tensors: dict[str, torch.Tensor] = {}
    doc = {"format": "nlp-envs-state/1", "value": _encode(obj, tensors, stem)}
    paths = [folder / f"{stem}.json"]
    paths[0].write_text(json.dumps(doc))
    if tensors:
        paths.append(folder / f"{stem}.safetensors")
        save_file(tensors, str(paths[1]))
    return paths


def load_state(folder: Path, stem: str) -> Any:
    """What :func:`save_state` wrote (tensors on CPU); :class:`CheckpointError` naming the bad file."""
    from safetensors.torch import load_file

    path = folder / f"{stem}.json"
    doc = read_json(path, CheckpointError)
    if not isinstance(doc, dict) or doc.get("format") != "nlp-envs-state/1" or "value" not in doc:
        raise CheckpointError(f"{path}: not an nlp-envs state file")
    tensors: dict[str, torch.Tensor] = {}
    st = folder / f"{stem}.safetensors"
    if st.exists():
        with reading(st):
            tensors = load_file(str(st))
    with reading(path):
        return _decode(doc["value"], tensors)


# -- reading files with errors that name them -------------------------------------------------------
@contextmanager
def reading(path: Path, error: type[RunError] = CheckpointError) -> Iterator[None]:
    """Turn what goes wrong while reading ``path`` into ``error`` naming it."""
    try:
        yield
    except RunError:
        raise
    except FileNotFoundError as e:
        raise error(f"{path} is missing") from e
    except Exception as e:  # a damaged file: JSON, safetensors, shapes, keys...
        raise error(f"{path} is damaged or not what nlp-envs wrote: {type(e).__name__}: {e}") from e


def read_json(path: Path, error: type[RunError] = RunError) -> Any:
    """``json.loads`` of ``path``; ``error`` naming the file when it is missing or not JSON."""
    with reading(path, error):
        return json.loads(Path(path).read_text(encoding="utf-8"))


def read_run_json(run_dir: str | os.PathLike) -> dict[str, Any]:
    """``run_dir/run.json`` as a dict; :class:`RunError` when there is none or it is damaged."""
    path = Path(run_dir) / "run.json"
    if not path.exists():
        raise RunError(f"{run_dir} is not a run directory (no run.json)")
    info = read_json(path)
    if not isinstance(info, dict):
        raise RunError(f"{path} is damaged: expected a JSON object")
    return info


# -- manifests ---------------------------------------------------------------------------------------
def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_manifest(folder: Path) -> Path:
    """``folder/manifest.json``: size and SHA-256 of every file under ``folder`` (written last)."""
    files = {p.relative_to(folder).as_posix(): {"bytes": p.stat().st_size, "sha256": _sha256(p)}
             for p in sorted(folder.rglob("*")) if p.is_file() and p.name != MANIFEST}
    path = folder / MANIFEST
    path.write_text(json.dumps({"format": "nlp-envs-checkpoint/1", "files": files}, indent=1))
    return path


def verify_checkpoint(folder: Path, only: tuple[str, ...] | None = None) -> dict[str, Any]:
    """Check ``folder`` against its manifest (every file, or the ``only`` ones); return the manifest.

    Raises :class:`CheckpointError` naming the first problem: no manifest (an older, pickle-based
    checkpoint, or an incomplete one), a pickle file in the folder, a missing, resized or changed file.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise CheckpointError(f"{folder} is missing")
    pickles = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")
                     if p.is_file() and p.suffix in PICKLE_SUFFIXES)
    manifest_path = folder / MANIFEST
    if not manifest_path.exists():
        if pickles:
            raise CheckpointError(
                f"{folder} is a checkpoint of an older nlp-envs (pickled {', '.join(pickles)}): pickles can run "
                f"code, so they are never loaded. `nlp-envs eval` still reads its model.safetensors; to train "
                f"further, start a new run (or --overwrite this one)")
        raise CheckpointError(f"{manifest_path} is missing: the checkpoint is incomplete or damaged")
    if pickles and only is None:
        raise CheckpointError(f"{folder / pickles[0]}: a pickle file is not part of an nlp-envs checkpoint and is "
                              f"never loaded (pickles can run code); remove it if you know where it came from")
    manifest = read_json(manifest_path, CheckpointError)
    files = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(files, dict):
        raise CheckpointError(f"{manifest_path} is damaged: no file list")
    for name in only if only is not None else tuple(files):
        entry = files.get(name)
        path = folder / name
        if entry is None:
            if path.exists():
                continue  # an optional file the manifest does not list (never the case for nlp-envs' own)
            raise CheckpointError(f"{path} is missing (and not listed in {manifest_path})")
        if not path.is_file():
            raise CheckpointError(f"{path} is missing")
        size = path.stat().st_size
        if size != entry.get("bytes"):
            raise CheckpointError(f"{path} is damaged: {size} bytes, the manifest says {entry.get('bytes')} "
                                  f"(truncated or overwritten)")
        if _sha256(path) != entry.get("sha256"):
            raise CheckpointError(f"{path} is damaged: its SHA-256 differs from the manifest's")
    return manifest


def checkpoint_dir(run_dir: str | os.PathLike) -> Path:
    """``run_dir/checkpoint``, or ``run_dir/checkpoint.prev`` when a save was interrupted between its two
    renames (the previous checkpoint is complete; the new one is not there yet); ``.checkpoint.old`` is
    the same for runs of older versions."""
    run_dir = Path(run_dir)
    for path in (run_dir / "checkpoint", run_dir / PREVIOUS, run_dir / ".checkpoint.old"):
        if path.exists():
            return path
    return run_dir / "checkpoint"


def has_checkpoint(run_dir: str | os.PathLike) -> bool:
    """Whether ``run_dir`` holds a checkpoint folder, intact or not (False: the run was stopped before its
    first checkpoint was complete)."""
    return checkpoint_dir(run_dir).exists()


def checkpoint_problem(run_dir: Path, ckpt: Path, error: CheckpointError) -> CheckpointError:
    """``error`` plus what to do: resume from ``checkpoint.prev/`` when that one is intact."""
    prev = run_dir / PREVIOUS
    hint = "\nno intact earlier checkpoint: start the run again with --overwrite"
    if prev.is_dir() and prev.resolve() != ckpt.resolve():
        try:
            verify_checkpoint(prev)
            step = read_json(prev / "trainer_state.json", CheckpointError).get("step")
            hint = (f"\nthe previous checkpoint {prev} (step {step}) is intact; to resume from it:\n"
                    f"  mv {ckpt} {ckpt}.damaged && mv {prev} {ckpt} && nlp-envs train --resume {run_dir}")
        except (CheckpointError, AttributeError):
            pass
    return CheckpointError(f"{error}{hint}")


# -- the run folder ----------------------------------------------------------------------------------
#: what a run writes at the top of its folder (transformer and SB3 runs); --overwrite removes these only
RUN_FILES = ("run.json", "checkpoint", PREVIOUS, ".checkpoint.old", "metrics.csv", "metrics.csv.tmp",
             "final_metrics.json", "eval_curve.json", "warm_start.json", "tb", "model.zip", "metrics.json")
RUN_GLOBS = (".checkpoint.tmp-*", "best-*.safetensors", ".*.tmp", "metrics.csv.damaged*")


def is_run(out: str | os.PathLike) -> bool:
    """Whether ``out`` holds (part of) a run: any of :data:`RUN_FILES` but ``tb``."""
    out = Path(out)
    return out.is_dir() and any((out / name).exists() for name in RUN_FILES if name != "tb")


def check_out(out: str | os.PathLike, *, overwrite: bool, resumable: bool) -> None:
    """Refuse to train into ``out`` when it holds a run (unless ``overwrite``); with ``overwrite``,
    remove that run's files (:func:`clear_run`). ``resumable``: the trainer has ``--resume``."""
    if not is_run(out):
        return
    if overwrite:
        clear_run(out)
        return
    how = f"--resume {out} to continue it, " if resumable else ""
    raise RunError(f"{out} already holds a run: {how}--overwrite to replace it, or another --out")


def clear_run(out: str | os.PathLike) -> None:
    """Remove the files a run writes in ``out`` (nothing else: ``out`` may be a user's folder)."""
    out = Path(out)
    paths = [out / name for name in RUN_FILES] + [p for g in RUN_GLOBS for p in out.glob(g)]
    for p in paths:
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        elif p.exists() or p.is_symlink():
            p.unlink()


# -- SB3 model.zip -----------------------------------------------------------------------------------
def load_sb3_tensors(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(params, pytorch_variables)`` of an SB3 ``model.zip``: its ``.pth`` entries, read with
    ``torch.load(weights_only=True)`` (tensors and plain containers only). The ``data`` entry, where SB3
    keeps cloudpickled fields (spaces, schedules, the policy class), is never read."""
    import io

    if not path.exists():
        raise RunError(f"{path} is missing: the run did not finish (it is saved after training); train it "
                       f"again with --overwrite")
    params: dict[str, Any] = {}
    variables: dict[str, Any] = {}
    with reading(path, RunError):
        with zipfile.ZipFile(path) as archive:
            for name in archive.namelist():
                if os.path.splitext(name)[1] != ".pth":
                    continue
                try:
                    obj = torch.load(io.BytesIO(archive.read(name)), map_location="cpu", weights_only=True)
                except Exception as e:
                    raise RunError(f"{path}: entry {name} is not a plain tensor file, refused without running "
                                   f"it ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})") from e
                if name in ("pytorch_variables.pth", "tensors.pth"):
                    variables = obj
                else:
                    params[os.path.splitext(name)[0]] = obj
    if "policy" not in params:
        raise RunError(f"{path} has no policy.pth: not an SB3 model")
    return params, variables

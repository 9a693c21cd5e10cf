"""Test session set-up: offline hub, a private cache dir, and the env ids to run conformance on."""

from __future__ import annotations

import os
import tempfile

for _flag in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
    os.environ.setdefault(_flag, "1")
os.environ.setdefault("NLP_ENVS_CACHE_DIR", os.path.join(tempfile.gettempdir(), "nlp_envs_test_cache"))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402

import nlp_envs  # noqa: E402,F401  (registers the ids)
from nlp_envs.registration import registered_ids  # noqa: E402
from nlp_envs.testing import env_available  # noqa: E402


def available_ids() -> list:
    """Every registered id, as pytest params; ids whose data is absent are skipped, not dropped."""
    params = []
    for env_id in registered_ids():
        ok, why = env_available(env_id)
        marks = [] if ok else [pytest.mark.skip(reason=why)]
        params.append(pytest.param(env_id, id=env_id, marks=marks))
    return params


@pytest.fixture
def data_dir() -> str:
    """The real-data directory, or skip."""
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

"""The family contract (``nlp_envs/family.py``): every id has one, every consumer reads it, and a new family
declared in a module of its own is picked up by the conformance suite and the agents with no edit elsewhere.

The toy family ``Parity`` lives in a module written to ``tmp_path`` (:data:`TOY_SOURCE`): a one-step
classification-like env (is the number of ``one`` words odd?) with its own data schema (an embedded
generator), gold episodes, evaluator and contract, registered under the test-only id ``ToyParity-v0``.
"""

from __future__ import annotations

import importlib
import sys
import textwrap
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import nlp_envs
from nlp_envs import testing
from nlp_envs.family import FAMILIES, GOLD_EPISODES, Family, data_schema, families, family, family_of_env
from nlp_envs.registration import ENV_IDS, registered_ids
from tests.helpers import available_ids, train_kwargs

TOY_ID = "ToyParity-v0"
TOY_MODULE = "toy_parity_family"

#: The whole toy family: env, vector env, evaluator, data schema, contract, registration. Nothing else in
#: the repository knows about it.
TOY_SOURCE = '''
"""A toy family for tests/test_family_contract.py: is the number of ``one`` words odd?"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from nlp_envs.core import NO_FLAG, NO_ID, NlpEnv, NlpVectorEnv, int_box
from nlp_envs.family import GOLD_EPISODES, DataSchema, Family, GoldEpisodes, register_family
from nlp_envs.prepared import Prepared, TextColumn, tokenize_texts
from nlp_envs.text_mode import Parsed, TextCodec, fail, fit, normalize
from nlp_envs.tokenization import build_encoder

LABELS = ("even", "odd")


def generate(sizes: dict[str, int] | None = None, seed: int = 0) -> dict[str, dict[str, list]]:
    """Seeded splits of texts such as ``"one zero one"`` labelled by the parity of their ``one`` words."""
    sizes = {"train": 200, "validation": 40, "test": 40, **(sizes or {})}
    out = {}
    for k, (split, n) in enumerate(sizes.items()):
        rng = np.random.default_rng([seed, k])
        words = [rng.integers(0, 2, size=rng.integers(1, 7)).tolist() for _ in range(n)]
        out[split] = {"text": [" ".join("one" if w else "zero" for w in ws) for ws in words],
                      "label": [LABELS[sum(ws) % 2] for ws in words]}
    return out


def generate_parity(**kwargs: Any) -> tuple[dict[str, dict[str, list]], tuple[str, ...]]:
    return generate(**kwargs), LABELS


class ParityEnv(NlpEnv):
    """## Description

    Say whether a text of ``one``/``zero`` words holds an odd number of ``one`` words; one step.

    ## Action Space

    ``Discrete(2)``: ``0`` even, ``1`` odd.

    ## Observation Space

    ``input_ids``, ``attention_mask`` (``int64``, ``(max_length,)``).

    ## Rewards

    1 for the right answer, else 0.

    ## Version History

    * v0: initial release.
    """

    default_dataset = "parity"

    def __init__(self, dataset: Any = None, split: str = "train", *, max_length: int = 16, **kwargs: Any) -> None:
        super().__init__(dataset=dataset, split=split, max_length=max_length, **kwargs)
        self.action_space = spaces.Discrete(len(LABELS))
        self.observation_space = spaces.Dict({"input_ids": int_box(self.encoder.vocab_size - 1, (max_length,)),
                                               "attention_mask": int_box(1, (max_length,))})
        arrays = self.prepared.arrays
        self.ids, self.mask, self.labels = arrays["input_ids"], arrays["attention_mask"], arrays["labels"]
        self.num_labels = len(LABELS)

    def _prepare_split(self, split: str) -> Prepared:
        train = self.data.splits["train"]
        encoder = build_encoder(self._tokenizer_spec, train_texts=train["text"], vocab_size=self._vocab_size)
        cols = self.data.split(split)
        ids, mask, _ = tokenize_texts(encoder, cols["text"], self.max_length)
        labels = np.array([LABELS.index(v) for v in cols["label"]], dtype=np.int64)
        return Prepared(encoder=encoder, arrays={"input_ids": ids, "attention_mask": mask, "labels": labels},
                        texts={"text": TextColumn.from_strings(cols["text"])}, meta={"num_examples": len(labels)})

    @property
    def texts(self) -> TextColumn:
        return self.prepared.texts["text"]

    def make_evaluator(self, num_envs: int) -> "ParityEvaluator":
        return ParityEvaluator()

    def gold_episodes(self) -> GoldEpisodes:
        labels = self.labels[:, None]
        return GoldEpisodes({"input_ids": self.ids, "attention_mask": self.mask}, labels,
                            np.ones_like(labels, dtype=bool))

    def lean_info_spec(self) -> dict[str, Any]:
        return {"index": NO_ID, "label": NO_ID, "prediction": NO_ID, "correct": NO_FLAG}

    def _obs(self, i: int) -> dict[str, np.ndarray]:
        return {"input_ids": self.ids[i].copy(), "attention_mask": self.mask[i].copy()}

    def _start_episode(self, index: int) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        return self._obs(index), {"index": np.int64(index), "label": np.int64(self.labels[index])}

    def _step_action(self, action: int):
        i = self._index
        correct = bool(action == self.labels[i])
        info = {"index": np.int64(i), "label": np.int64(self.labels[i]), "prediction": np.int64(action),
                "correct": np.array(correct)}
        return self._obs(i), float(correct), True, False, info

    def _render_text(self) -> str:
        return f"#{self._index}: gold {LABELS[int(self.labels[self._index])]}"


class ParityVectorEnv(NlpVectorEnv):
    """Native vector version of :class:`ParityEnv`."""

    env_class = ParityEnv

    def __init__(self, num_envs: int = 1, **kwargs: Any) -> None:
        super().__init__(num_envs, **kwargs)
        self.cur = np.zeros(num_envs, dtype=np.int64)

    def _begin(self, env_ids: np.ndarray) -> dict[str, Any]:
        idx = self._next_indices(env_ids)
        self.cur[env_ids] = idx
        return {"index": idx, "label": self.env.labels[idx]}

    def _advance(self, actions: np.ndarray, active: np.ndarray):
        idx = self.cur[active]
        gold = self.env.labels[idx]
        correct = actions == gold
        info = {"index": idx, "label": gold, "prediction": actions, "correct": correct}
        return correct.astype(np.float64), True, False, info

    def _observe(self) -> dict[str, np.ndarray]:
        return {"input_ids": self.env.ids[self.cur], "attention_mask": self.env.mask[self.cur]}


class ParityEvaluator:
    """Accuracy over one pass of a split."""

    done_key = "prediction"

    def __init__(self) -> None:
        self.correct: list[bool] = []

    def add(self, infos: dict[str, Any], env_ids: np.ndarray) -> None:
        self.correct.extend(bool(c) for c in infos["correct"][env_ids])

    def compute(self) -> dict[str, Any]:
        return {"parity_accuracy": float(np.mean(self.correct))}


class ParityCodec(TextCodec):
    """Text mode: the prompt shows the words, the answer is even or odd."""

    template = "Is the number of 'one' words in the text even or odd?\\n\\nText: {text}\\n\\nAnswer even or odd:"
    answer_formats = "`even` or `odd`, case-insensitive."
    no_answer_info = {"prediction": np.int64(-1), "correct": False}

    def prompt(self, env: Any, max_chars: int) -> str:
        head, tail = self.template.split("{text}")
        return fit(head, env.texts[env.current_index], tail, max_chars)

    def parse(self, env: Any, answer: str) -> Parsed:
        a = normalize(answer)
        return Parsed((LABELS.index(a),)) if a in LABELS else fail(f"{answer[:40]!r} is neither even nor odd")

    def no_answer(self, env: Any) -> tuple[int, ...]:
        return (0,)

    def gold_answer(self, env: Any) -> str:
        return LABELS[int(env.labels[env.current_index])]

    def chars(self, env: Any) -> set[str]:
        return env.texts.chars()


PARITY_DATA = DataSchema(name="parity", columns=("text", "label"), embedded={"parity": generate_parity})

PARITY = register_family(Family(
    name="ToyParity", env_class=ParityEnv, vector_env_class=ParityVectorEnv, data=PARITY_DATA,
    policy="classify", action_layout="Discrete(2): even or odd", gold=GOLD_EPISODES, evaluator=ParityEvaluator,
    main_metric="parity_accuracy", sb3_extractor="text", majority="classification", text=ParityCodec(),
))

if "ToyParity-v0" not in gym.registry:
    gym.register(id="ToyParity-v0", entry_point=f"{__name__}:ParityEnv",
                 vector_entry_point=f"{__name__}:ParityVectorEnv", kwargs={"dataset": "parity"})
'''


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory):
    """The toy family's module, written to a temporary folder and imported; unregistered afterwards."""
    folder = tmp_path_factory.mktemp("toy_family")
    (folder / f"{TOY_MODULE}.py").write_text(textwrap.dedent(TOY_SOURCE))
    sys.path.insert(0, str(folder))
    try:
        yield importlib.import_module(TOY_MODULE)
    finally:
        sys.path.remove(str(folder))
        sys.modules.pop(TOY_MODULE, None)
        gym.registry.pop(TOY_ID, None)
        FAMILIES.pop("ToyParity", None)


# -- the registry -------------------------------------------------------------------------------------


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_every_id_has_a_registered_family(env_id: str) -> None:
    fam = family_of_env(env_id)
    assert fam is family(fam.name) is FAMILIES[fam.name]
    assert env_id.split("-")[0] == fam.name  # the family's name is its ids' prefix
    spec = gym.spec(env_id)
    assert spec.entry_point == f"{fam.env_class.__module__}:{fam.env_class.__name__}"
    assert spec.vector_entry_point == f"{fam.vector_env_class.__module__}:{fam.vector_env_class.__name__}"
    assert fam.env_class.task == fam.data.name and data_schema(fam.data.name) is fam.data


def test_every_family_has_ids_and_contract_values_the_consumers_know() -> None:
    from nlp_envs.agents.baselines import MAJORITY
    from nlp_envs.agents.extractors import HEADS
    from nlp_envs.agents.policy import POLICIES

    builtin = {n: f for n, f in families().items() if f.env_class.__module__.startswith("nlp_envs.")}
    assert set(builtin) == {family_of_env(i).name for i in registered_ids()}
    for fam in builtin.values():
        assert fam.policy in POLICIES and fam.sb3_extractor in HEADS
        assert fam.majority is None or fam.majority in MAJORITY
        assert fam.gold is None or fam.has_gold


def test_family_of_env_accepts_ids_envs_vector_envs_and_classes() -> None:
    fam = family_of_env("NerTag-v0")
    env = gym.make("NerTag-v0")
    venv = gym.make_vec("NerTag-v0", num_envs=2, vectorization_mode="vector_entry_point")
    try:
        assert family_of_env(env) is family_of_env(env.unwrapped) is family_of_env(venv) is fam
        assert family_of_env("nlp_envs:NerTag-v0") is family_of_env(fam.env_class) is fam
    finally:
        env.close()
        venv.close()
    with pytest.raises(ValueError, match="no family contract"):
        family_of_env(gym.make("CartPole-v1"))
    with pytest.raises(KeyError, match="registered:"):
        family("NoSuchFamily")
    with pytest.raises(ValueError, match="unknown task family 'nope'"):
        data_schema("nope")


def test_a_contract_names_what_to_fix() -> None:
    fam = family_of_env("TextCls-v0")
    with pytest.raises(ValueError, match="gold="):
        Family(**{**fam.__dict__, "gold": "sometimes"})
    with pytest.raises(ValueError, match="needs gold"):
        Family(**{**fam.__dict__, "gold": None})  # a majority baseline reads the gold


@pytest.mark.parametrize("env_id", available_ids())
def test_main_metric_is_in_the_evaluators_output(env_id: str) -> None:
    """Every family's declared main metric (and second metric) appears in its evaluator's output."""
    testing.check_family_contract(env_id, examples=8)


def test_the_benchmark_and_the_trainer_ask_the_contract() -> None:
    import importlib.util

    from nlp_envs.agents import supervised

    spec = importlib.util.spec_from_file_location("bench", Path(__file__).parents[1] / "benchmarks" / "bench.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    for env_id in ENV_IDS:
        fam = family_of_env(env_id)
        assert bench.main_metric(env_id) == supervised.main_metric(env_id) == fam.main_metric
        assert bench.second_metric(env_id) == fam.second_metric


# -- a new family, in a module of its own ---------------------------------------------------------------


def test_toy_family_is_registered_by_its_module_alone(toy) -> None:
    fam = family_of_env(TOY_ID)
    assert fam is toy.PARITY and fam.gold == GOLD_EPISODES and toy.ParityEnv.task == "parity"
    assert TOY_ID not in registered_ids() and TOY_ID not in ENV_IDS  # a test-only id, not the package's
    data = nlp_envs.data.load_task_data("parity", "parity")  # the data layer reads its schema
    assert set(data.split("test")) == {"text", "label"} and data.label_names == toy.LABELS
    assert nlp_envs.data.embedded_names("parity") == ["parity"]


def test_toy_family_passes_the_conformance_suite(toy) -> None:
    testing.check_all(TOY_ID, episodes=20)


def test_toy_family_text_mode_is_one_codec(toy) -> None:
    """The toy's text mode is its codec alone: prompts, parsing, evaluate() with a text policy."""
    env = gym.make(TOY_ID, obs_mode="text")
    prompt, _ = env.reset(seed=0, options={"index": 3})
    assert "Answer even or odd:" in prompt and env.unwrapped.texts[3] in prompt
    _, reward, terminated, _, info = env.step(" ODD. " if env.unwrapped.labels[3] else "even")
    assert reward == 1.0 and terminated and info["parse_error"] == ""
    result = nlp_envs.evaluate(TOY_ID, lambda prompts: ["odd"] * len(prompts), obs_mode="text", num_envs=4)
    labels = gym.make(TOY_ID, split="test").unwrapped.labels
    assert result["parity_accuracy"] == pytest.approx(float(np.mean(labels == 1)))


def test_toy_family_baselines_and_agents(toy, tmp_path: Path, one_torch_thread: None) -> None:
    """The majority and random baselines, PPO (a few hundred steps, tiny backbone) and the supervised trainer
    (the contract says gold is available) run on the toy family, and the run reloads."""
    from nlp_envs.agents import load_policy
    from nlp_envs.agents.baselines import MajorityPolicy, make_baseline
    from nlp_envs.agents.train import train  # (nlp_envs.agents.train is also the submodule's name)

    majority = MajorityPolicy.fit(TOY_ID)
    assert majority.family == "classification"
    for name in ("majority", "random"):
        scores = nlp_envs.evaluate(TOY_ID, make_baseline(name, TOY_ID, seed=0), split="test")
        assert 0.0 <= scores["parity_accuracy"] <= 1.0 and scores["num_examples"] == 40
    common = {"backbone": "tiny", "seed": 0, "num_envs": 8, **train_kwargs(checkpoint_every=1), "device": "cpu"}
    ppo = train(TOY_ID, "ppo", total_steps=256, out=str(tmp_path / "ppo"), **common)
    assert 0.0 <= ppo["eval/parity_accuracy"] <= 1.0
    sup = train(TOY_ID, "supervised", total_steps=256, out=str(tmp_path / "sup"), eval_every=128, **common)
    assert sup["early_stopping"] == "on" and "val_parity_accuracy" in sup  # early-stopped on the main metric
    env_id, _, policy = load_policy(tmp_path / "sup")
    assert env_id == TOY_ID
    again = nlp_envs.evaluate(TOY_ID, policy, split="test")
    assert again["parity_accuracy"] == sup["eval/parity_accuracy"]


def test_toy_family_sb3(toy, tmp_path: Path, one_torch_thread: None) -> None:
    """The SB3 glue builds its extractor with the contract's head and trains a few steps."""
    from nlp_envs.agents import sb3

    res = sb3.train(TOY_ID, "sb3-ppo", total_steps=64, seed=0, out=tmp_path / "sb3",
                    overrides={"n_envs": 2, "n_steps": 16, "batch_size": 16, "n_epochs": 1})
    assert 0.0 <= res["metrics"]["parity_accuracy"] <= 1.0
    env_id, _, model = sb3.load_sb3_policy(tmp_path / "sb3")
    assert model.policy.features_extractor.head == "text"


def test_sb3_extractor_head_comes_from_the_contract(tmp_path: Path) -> None:
    """``build_model`` passes the contract's ``sb3_extractor``; a space alone gets the head its keys name."""
    from nlp_envs.agents import sb3
    from nlp_envs.agents.extractors import EmbeddingBagExtractor, head_of_space

    for env_id in ("TextCls-v0", "NerTag-v0", "DialogReply-v0", "DialogSelect-v0", "MultiLabelCls-v0",
                   "MultiChoiceQA-v0"):
        fam = family_of_env(env_id)
        env = sb3.make_sb3_vec_env(env_id, 2)
        try:
            hp = {**sb3.load_hyperparams(env_id, "sb3-ppo"), "n_steps": 8, "batch_size": 16}
            model = sb3.build_model("sb3-ppo", env, hp, seed=0, env_id=env_id)
            assert model.policy.features_extractor.head == fam.sb3_extractor
            assert head_of_space(env.observation_space) == fam.sb3_extractor
        finally:
            env.close()
    seq = gym.make("MultiChoiceQA-v0", mode="sequential").observation_space
    assert EmbeddingBagExtractor(seq, embed_dim=8, head="options").options is None  # one option on show: a text
    with pytest.raises(ValueError, match="needs the observation keys"):
        EmbeddingBagExtractor(gym.make("TextCls-v0").observation_space, head="tagging")


def test_gold_episodes_match_reset_and_replay() -> None:
    """What supervised training reads, for the families with ``gold="episodes"`` (the conformance check
    on a few more examples), and MultiChoiceQA's sequential mode too."""
    for env_id in ("TextCls-v0", "NerTag-v0", "DialogReply-v0", "MultiLabelCls-v0", "MultiChoiceQA-v0"):
        testing.check_gold_episodes(env_id, examples=24)
    testing.check_gold_episodes("MultiChoiceQA-v0", examples=24, mode="sequential")
    testing.check_gold_episodes("NerTag-v0", examples=8, obs_mode="flat")
    env = gym.make("TextCls-v0").unwrapped
    assert np.array_equal(env.gold_episodes().actions[:, 0], env.labels)


def test_contributing_names_files_that_exist() -> None:
    """CONTRIBUTING.md's file lists stay true: every concrete path it names exists."""
    import re

    root = Path(__file__).resolve().parents[1]
    text = (root / "CONTRIBUTING.md").read_text()
    paths = set(re.findall(r"`((?:nlp_envs|tests|benchmarks|scripts)/[\w./-]+)`", text))
    assert len(paths) > 10
    missing = sorted(p for p in paths if not (root / p).exists())
    assert not missing, f"CONTRIBUTING.md names files that do not exist: {missing}"

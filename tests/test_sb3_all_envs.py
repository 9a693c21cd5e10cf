"""Every registered env id trains with an SB3 algorithm from the CLI and its run evaluates with
``nlp-envs eval``; A2C and DQN end to end; MaskablePPO learns the masked families.

Runtime is kept small: tiny budgets, 16-dim embeddings, and ``num_shards`` env kwargs so that the
train and test splits of the large real datasets are cut to a few hundred examples (the kwarg is
recorded in ``run.json``, so ``nlp-envs eval RUN_DIR`` evaluates the same shard). Real-data ids are
skipped when ``NLP_ENVS_DATA_DIR`` lacks their folder (as the conformance tests).
"""

from __future__ import annotations

import json
import math

import gymnasium as gym
import numpy as np
import pytest
import torch as th

import nlp_envs
from nlp_envs.agents import sb3
from nlp_envs.agents.baselines import MajorityPolicy
from nlp_envs.agents.extractors import EmbeddingBagExtractor, TinyTransformerExtractor
from nlp_envs import cli
from nlp_envs.registration import eval_only_split, family_id, registered_ids, train_siblings
from nlp_envs.family import family_of_env
from nlp_envs.testing import env_available
from tests.helpers import available_ids, mask_checked

#: families without action masks (all actions always valid): plain PPO; the others use MaskablePPO
UNMASKED = ("TextCls-v0", "DialogSelect-v0")
EVAL_ONLY = "MultiChoiceQA-ARCChallenge-v0"
#: overrides of the smoke runs: a few updates of a small model
TINY = ["--total-steps", "256", "--set", "n_envs=4", "--set", "n_steps=32", "--set", "batch_size=64",
        "--set", "extractor_kwargs.embed_dim=16", "--no-progress-bar"]


def algo_for(env_id: str) -> str:
    return "sb3-ppo" if sb3.family_id(env_id) in UNMASKED else "sb3-maskable-ppo"


def shard_kwargs(env_id: str, target: int = 150) -> list[str]:
    """``--env-kwarg`` args that cut the test split to about ``target`` examples (none when small)."""
    n = gym.make(env_id, split="test").unwrapped.num_examples
    shards = max(1, math.ceil(n / target))
    return [] if shards == 1 else ["--env-kwarg", f"num_shards={shards}", "--env-kwarg", "shard_index=0"]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _last_json(capsys) -> dict:
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("{")]
    assert lines, "no JSON line printed"
    return json.loads(lines[-1])


def _train_and_eval(env_id: str, out, capsys, extra: list[str] | None = None) -> tuple[dict, dict]:
    """``nlp-envs train ENV_ID --algo ...`` (tiny) then ``nlp-envs eval OUT --json``: both JSONs."""
    argv = ["train", env_id, "--algo", algo_for(env_id), "--seed", "0", "--out", str(out), *TINY,
            *shard_kwargs(env_id), *(extra or [])]
    assert cli.main(argv) == 0
    trained = _last_json(capsys)
    assert cli.main(["eval", str(out), "--json"]) == 0
    return trained, _last_json(capsys)


def test_every_registered_id_is_covered():
    """Every trainable id has its own YAML entry for sb3-ppo and for the algo picked here."""
    import yaml

    table = yaml.safe_load(sb3.HYPERPARAMS_PATH.read_text())
    for env_id in registered_ids():
        family_of_env(env_id)  # every id has a family contract (its main metric is checked below)
        if env_id == EVAL_ONLY:
            continue
        for algo in {"sb3-ppo", algo_for(env_id)}:
            assert env_id in table[algo], f"{algo} has no entry for {env_id}"
            assert "n_timesteps" in sb3.load_hyperparams(env_id, algo)


def test_hyperparams_inheritance(tmp_path):
    base, real = (sb3.load_hyperparams(i, "sb3-ppo") for i in ("TextCls-v0", "TextCls-Banking77-v0"))
    assert real["gamma"] == 0.0 and real["learning_rate"] == base["learning_rate"]  # inherited
    assert real["n_timesteps"] != base["n_timesteps"]  # its own budget
    hp = sb3.load_hyperparams("DialogReply-SGD-v0", "sb3-maskable-ppo")
    assert hp["env_kwargs"] == {"action_mask": "train_replies"} and hp["gamma"] == 1.0
    # no entry at all: the family's (Family-Name-vN -> Family-vN)
    assert sb3.family_id("MultiChoiceQA-ARCEasy-v0") == "MultiChoiceQA-v0"
    assert sb3.family_id("MultiChoiceQA-v0") == "MultiChoiceQA-v0"
    a2c = sb3.load_hyperparams("TextCls-v0", "sb3-a2c")
    assert sb3.load_hyperparams("TextCls-Banking77-v0", "sb3-a2c") == a2c
    path = tmp_path / "hp.yml"
    path.write_text("sb3-ppo:\n  defaults: {gamma: 0.9, env_kwargs: {a: 1}}\n"
                    "  A-v0: {inherit: B-v0}\n  B-v0: {inherit: A-v0}\n  C-v0: {inherit: Z-v0}\n"
                    "  D-v0: {n_steps: 8, env_kwargs: {b: 2}}\n  E-v0: {inherit: D-v0, n_steps: 4}\n")
    with pytest.raises(ValueError, match="cycle A-v0 -> B-v0 -> A-v0"):
        sb3.load_hyperparams("A-v0", "sb3-ppo", path=path)
    with pytest.raises(ValueError, match="inherits 'Z-v0'"):
        sb3.load_hyperparams("C-v0", "sb3-ppo", path=path)
    assert sb3.load_hyperparams("E-v0", "sb3-ppo", path=path) == {"gamma": 0.9, "n_steps": 4,
                                                                  "env_kwargs": {"a": 1, "b": 2}}
    assert sb3.load_hyperparams("D-Foo-v0", "sb3-ppo", path=path)["n_steps"] == 8  # family fallback


@pytest.mark.slow
@pytest.mark.parametrize("env_id", available_ids())
def test_cli_train_then_eval(env_id, tmp_path, capsys):
    metric = family_of_env(env_id).main_metric
    out = tmp_path / "run"
    if env_id == EVAL_ONLY:
        with pytest.raises(SystemExit, match="evaluation-only"):
            cli.main(["train", env_id, "--algo", algo_for(env_id), "--out", str(out), *TINY])
        assert not out.exists()  # refused before anything is built or written
        return
    trained, evaluated = _train_and_eval(env_id, out, capsys)
    run = json.loads((out / "run.json").read_text())
    assert run["env_id"] == env_id and run["algo"] == algo_for(env_id) and run["total_steps"] == 256
    assert evaluated["env_id"] == env_id and evaluated["split"] == "test"
    assert 0.0 <= evaluated[metric] <= 1.0
    # the saved model, reloaded by `nlp-envs eval`, scores exactly what train() measured
    assert evaluated[metric] == pytest.approx(trained[metric], abs=1e-12)
    assert evaluated["num_examples"] == trained["num_examples"] > 0


def test_eval_only_id_is_refused_early(tmp_path):
    with pytest.raises(ValueError, match=r"evaluation-only.*MultiChoiceQA-ARCEasy-v0"):
        sb3.train(EVAL_ONLY, "sb3-ppo", total_steps=64, seed=0, out=tmp_path / "x")
    assert not (tmp_path / "x").exists()
    sb3.check_trainable("MultiChoiceQA-ARCEasy-v0")  # its trainable sibling passes


@pytest.mark.data
@pytest.mark.skipif(not (env_available(EVAL_ONLY)[0] and env_available("MultiChoiceQA-ARCEasy-v0")[0]),
                    reason="needs arc/ under NLP_ENVS_DATA_DIR")
def test_arc_easy_run_evaluates_on_arc_challenge(tmp_path, capsys):
    easy = "MultiChoiceQA-ARCEasy-v0"
    a, c = gym.make(easy, split="test").unwrapped, gym.make(EVAL_ONLY).unwrapped
    assert a.encoder.fingerprint == c.encoder.fingerprint  # one vocabulary: arc-easy's train split
    assert a.observation_space == c.observation_space
    out = tmp_path / "easy"
    _train_and_eval(easy, out, capsys)
    # Python: the saved model on the evaluation-only id
    _, _, model = sb3.load_sb3_policy(out)
    result = nlp_envs.evaluate(EVAL_ONLY, model, split="test", num_shards=8, shard_index=0)
    assert result["env_id"] == EVAL_ONLY and result["num_examples"] == len(range(0, c.num_examples, 8))
    assert 0.0 <= result["accuracy"] <= 1.0
    # CLI: `nlp-envs eval RUN --env-kwarg dataset=arc-challenge` (the run's id with the other dataset)
    assert cli.main(["eval", str(out), "--json", "--env-kwarg", "dataset=arc-challenge"]) == 0
    evaluated = _last_json(capsys)
    assert 0.0 <= evaluated["accuracy"] <= 1.0 and evaluated["num_examples"] > 0
    # CLI: `nlp-envs eval RUN --env-id ...`: the same numbers, reported under the evaluation-only id
    assert cli.main(["eval", str(out), "--json", "--env-id", EVAL_ONLY]) == 0
    by_id = _last_json(capsys)
    assert by_id["env_id"] == EVAL_ONLY
    assert (by_id["accuracy"], by_id["num_examples"]) == (evaluated["accuracy"], evaluated["num_examples"])
    with pytest.raises(SystemExit, match="not the env class"):
        cli.main(["eval", str(out), "--env-id", "TextCls-v0"])
    # majority on the evaluation-only id: fitted on the train split of its trainable sibling
    with pytest.warns(UserWarning, match=f"majority fitted on the train split of {easy}"):
        majority = MajorityPolicy.fit(EVAL_ONLY)
    assert str(majority.table) == str(MajorityPolicy.fit(easy).table)
    assert cli.main(["eval", EVAL_ONLY, "--agent", "majority", "--json"]) == 0
    assert _last_json(capsys)["num_examples"] == c.num_examples


def test_train_siblings_of_an_eval_only_id():
    assert family_id("MultiChoiceQA-ARCEasy-v0") == "MultiChoiceQA-v0" == sb3.family_id("MultiChoiceQA-v0")
    assert eval_only_split(EVAL_ONLY) == "test" and eval_only_split("MultiChoiceQA-ARCEasy-v0") is None
    assert eval_only_split(EVAL_ONLY, {"dataset": "quiz"}) is None  # other data: trainable
    assert train_siblings(EVAL_ONLY)[:2] == ["MultiChoiceQA-ARCEasy-v0", "MultiChoiceQA-v0"]


# -- option-aware features (MultiChoiceQA direct) ------------------------------------------------------
@pytest.mark.parametrize("cls", [EmbeddingBagExtractor, TinyTransformerExtractor])
def test_option_features(cls):
    kw = {"embed_dim": 16, **({"num_heads": 2} if cls is TinyTransformerExtractor else {})}
    venv = gym.make_vec("MultiChoiceQA-v0", num_envs=6, vectorization_mode="vector_entry_point")
    obs, _ = venv.reset(seed=0)
    ext = cls(venv.single_observation_space, **kw)
    k, length = ext.options
    assert (k, length) == (5, obs["option_ids"].shape[1] // 5)
    assert ext.pairs == [("question_ids", "question_mask")] and ext.other_keys == ["num_options"]
    assert ext.features_dim == 16 + 2 * k * 16 + 1
    f = ext({key: th.as_tensor(v).float() for key, v in obs.items()}).detach()

    def blocks(feats):  # question (B, d), option * question (B, K, d), option (B, K, d)
        cut = 16 + k * 16
        return feats[:, :16], feats[:, 16:cut].reshape(-1, k, 16), feats[:, cut:-1].reshape(-1, k, 16)

    q, prod, opt = blocks(f)
    n = obs["num_options"].ravel()
    for b in range(len(n)):  # slots past num_options are zero, real ones are not
        assert (opt[b, n[b]:] == 0).all() and (prod[b, n[b]:] == 0).all()
        assert (opt[b, :n[b]].abs().sum(-1) > 0).all()
    th.testing.assert_close(prod, opt * q.unsqueeze(1))
    # swapping options 0 and 1 swaps their features (each option is encoded on its own)
    swapped = {key: v.copy() for key, v in obs.items()}
    for key in ("option_ids", "option_mask"):
        rows = swapped[key].reshape(len(n), k, length)
        rows[:, [0, 1]] = rows[:, [1, 0]]
    q2, prod2, opt2 = blocks(ext({key: th.as_tensor(v).float() for key, v in swapped.items()}).detach())
    th.testing.assert_close(q2, q)
    th.testing.assert_close(opt2[:, [1, 0, 2, 3, 4]], opt)
    th.testing.assert_close(prod2[:, [1, 0, 2, 3, 4]], prod)
    venv.close()
    # sequential mode (one option on show, option_index): the generic path, the option is a text
    seq = gym.make_vec("MultiChoiceQA-v0", num_envs=3, vectorization_mode="vector_entry_point",
                       mode="sequential")
    obs, _ = seq.reset(seed=0)
    ext = cls(seq.single_observation_space, **kw)
    assert ext.options is None and ("option_ids", "option_mask") in ext.pairs
    out = ext({key: th.as_tensor(v).float() for key, v in obs.items()})
    assert out.shape == (3, ext.features_dim) and th.isfinite(out).all()
    seq.close()


@pytest.mark.parametrize("cls", [EmbeddingBagExtractor, TinyTransformerExtractor])
def test_multilabel_features_generic(cls):
    venv = gym.make_vec("MultiLabelCls-v0", num_envs=3, vectorization_mode="vector_entry_point")
    obs, _ = venv.reset(seed=0)
    kw = {"num_heads": 2} if cls is TinyTransformerExtractor else {}
    ext = cls(venv.single_observation_space, embed_dim=16, **kw)
    assert ext.pairs == [("input_ids", "attention_mask")] and ext.other_keys == ["chosen", "num_chosen"]
    labels = obs["chosen"].shape[1]
    out = ext({key: th.as_tensor(v).float() for key, v in obs.items()})
    assert out.shape == (3, 16 + labels + 1) and th.isfinite(out).all()
    venv.close()


# -- A2C and DQN end to end ---------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("algo, steps, min_acc", [
    # measured (seed 0, YAML values, 8192 steps): A2C 0.39, DQN 0.55; chance 1/16, majority 0.063
    ("sb3-a2c", 8192, 0.3),
    ("sb3-dqn", 8192, 0.3),
])
def test_a2c_dqn_textcls_end_to_end(algo, steps, min_acc, tmp_path, capsys):
    out = tmp_path / algo
    assert sb3.main(["TextCls-v0", "--algo", algo, "--total-steps", str(steps), "--seed", "0",
                     "--out", str(out), "--no-progress-bar"]) == 0
    trained = _last_json(capsys)
    assert trained["accuracy"] > min_acc, trained
    assert cli.main(["eval", str(out), "--json"]) == 0
    assert _last_json(capsys)["accuracy"] == trained["accuracy"]
    env_id, env_kwargs, model = sb3.load_sb3_policy(out)
    assert (env_id, env_kwargs) == ("TextCls-v0", {}) and type(model).__name__ == sb3.ALGOS[algo][1]
    fresh = sb3._algo_class(algo).load(out / "model.zip", device="cpu")
    venv = gym.make_vec("TextCls-v0", num_envs=64, vectorization_mode="vector_entry_point", split="test")
    obs, _ = venv.reset(seed=1)
    a1, _ = model.predict(obs, deterministic=True)
    a2, _ = fresh.predict(obs, deterministic=True)
    np.testing.assert_array_equal(a1, a2)
    venv.close()


# -- MaskablePPO learns the masked families -----------------------------------------------------------
def _mask_checked_policy(model):
    """An evaluate() policy: the model's deterministic masked actions, checked against the masks."""
    def policy(obs, action_masks):
        actions, _ = model.predict(obs, deterministic=True, action_masks=action_masks)
        assert action_masks[np.arange(len(actions)), actions].all(), "masked action at test time"
        return actions
    return policy


@pytest.mark.slow
@pytest.mark.parametrize("env_id, steps, metric, floor", [
    # measured (seed 0, YAML values): MultiLabelCls-v0 16384 steps: example F1 0.62 (random 0.19;
    # there is no majority baseline for multi-label); MultiChoiceQA-v0 16384 steps: accuracy 0.31
    # (random 0.26, always-majority-position 0.27, chance E[1/num_options] 0.262)
    ("MultiLabelCls-v0", 16384, "example_f1", 0.40),
    ("MultiChoiceQA-v0", 16384, "accuracy", 0.285),
])
def test_maskable_ppo_learns_and_respects_masks(env_id, steps, metric, floor):
    from sb3_contrib import MaskablePPO

    from nlp_envs.agents.baselines import make_baseline

    hp = sb3.load_hyperparams(env_id, "sb3-maskable-ppo")
    env = mask_checked(sb3.make_sb3_vec_env(env_id, int(hp["n_envs"]), env_kwargs={"split": "train"}))
    model = sb3.build_model("sb3-maskable-ppo", env, hp, seed=0)
    assert isinstance(model, MaskablePPO)
    model.learn(steps)
    assert env.checked >= steps
    learned = nlp_envs.evaluate(env_id, _mask_checked_policy(model), split="test")[metric]
    random = nlp_envs.evaluate(env_id, make_baseline("random", env_id, seed=0), split="test")[metric]
    assert learned > max(floor, random + 0.02), (learned, random)

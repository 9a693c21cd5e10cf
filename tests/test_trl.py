"""TRL integration (``nlp_envs/integrations/trl.py``, ``nlp_envs/integrations/hf.py``): text-mode prompt
datasets, reward functions equal to the env's step rewards, and a GRPO run of a tiny config-built causal LM.

The equality tests need only ``datasets``; the GRPO tests need ``trl`` (the ``llm`` extra, part of ``dev``)
and skip, saying so, without it. Every family with a text mode is covered: a family whose codec is missing
fails here (its text mode is required), it is not skipped.
"""

from __future__ import annotations

import functools
import pickle
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import nlp_envs
from nlp_envs.integrations.trl import EnvReward, completion_text, prompt_dataset, reward_funcs

pytestmark = [pytest.mark.usefixtures("one_torch_thread"),
              pytest.mark.filterwarnings("ignore:.*is out of date:DeprecationWarning")]  # the v0 ids, on purpose

ROOT = Path(__file__).resolve().parents[1]

#: One embedded id per family.
FAMILY_IDS = ["TextCls-v0", "NerTag-v0", "MultiLabelCls-v0", "MultiChoiceQA-v0", "DialogSelect-v0", "DialogReply-v0"]
#: Families whose right answer earns the maximum reward, 1.0 (a reply's F1 against its reference may not).
MAX_ONE = {"TextCls-v0", "NerTag-v0", "MultiLabelCls-v0", "MultiChoiceQA-v0", "DialogSelect-v0"}
#: Answers that are no answer in any family's format.
MALFORMED = ["", "   \n\t ", "x" * 100_000, "🤖🤖 ☃ naïve café 東京 \u200b\u202e", "\x00\x01\x7f garbage ###",
             "Label: Label: ??? ;;; 12 34 {[(", "\n\n\n", "ÿ" * 5000]
N = 200


def _need_trl():
    return pytest.importorskip("trl", reason="trl is not installed: pip install -e '.[llm]' (in the dev extra)")


def _scripted_rows(env_id: str, *, conversational: bool = False) -> tuple[dict, list]:
    """200 rows of the test split (cycled if shorter) and their completions: right (the gold answer), wrong
    (another example's gold answer), malformed (:data:`MALFORMED`), in equal thirds, shuffled."""
    ds = prompt_dataset(env_id, "test", limit=N, conversational=conversational)
    n = len(ds)
    rng = np.random.default_rng(0)
    rows = {c: [] for c in ds.column_names}
    completions, kinds = [], []
    for k in range(N):
        r = ds[k % n]
        for c in ds.column_names:
            rows[c].append(r[c])
        kind = ("right", "wrong", "malformed")[k % 3]
        if kind == "right":
            answer = r["answer"]
        elif kind == "wrong":
            answer = ds[int((k % n + 1 + rng.integers(n - 1)) % n)]["answer"]
        else:
            answer = MALFORMED[(k // 3) % len(MALFORMED)]
        completions.append(answer)
        kinds.append(kind)
    order = rng.permutation(N)  # a trainer's batch is in no particular order
    rows = {c: [v[i] for i in order] for c, v in rows.items()}
    return rows, [completions[i] for i in order], [kinds[i] for i in order]


def _env_rewards(env_id: str, rows: dict, completions: list) -> list[float]:
    """The step reward of each completion in a fresh text-mode env reset as its row says."""
    out = []
    for k, answer in enumerate(completions):
        env = gym.make(env_id, obs_mode="text", split=rows["split"][k])
        prompt, _ = env.reset(seed=rows["seed"][k], options={"index": rows["index"][k]})
        if isinstance(rows["prompt"][k], str):
            assert prompt == rows["prompt"][k]
        _, reward, _, _, _ = env.step(answer)
        out.append(reward)
        env.close()
    return out


@pytest.mark.parametrize("env_id", FAMILY_IDS)
def test_reward_equals_the_env_step_reward(env_id: str) -> None:
    from nlp_envs.family import family_of_env

    assert family_of_env(env_id).text is not None, f"{env_id}: its family has no text codec (Family.text is None)"
    rows, completions, kinds = _scripted_rows(env_id)
    reward, fmt = reward_funcs(env_id, format_reward=True)
    got = reward(rows["prompt"], completions, **rows)
    want = _env_rewards(env_id, rows, completions)
    assert len(got) == N and all(type(r) is float for r in got)
    assert got == want  # exactly: the same parser, kernel and parse_error_reward
    parses = fmt(rows["prompt"], completions, **rows)
    assert set(parses) <= {0.0, 1.0}
    for kind, r, p in zip(kinds, got, parses):
        if p == 0.0:
            assert r == 0.0, (kind, r)  # parse_error_reward
        if kind == "malformed" and env_id in MAX_ONE:
            assert p == 0.0, (kind, r)  # (any line is a reply: DialogReply parses most of them)
        elif kind == "right":
            assert p == 1.0
            if env_id in MAX_ONE:
                assert r == pytest.approx(1.0), f"{env_id}: a gold answer earned {r}"
    right = [r for kind, r in zip(kinds, got) if kind == "right"]
    wrong = [r for kind, r in zip(kinds, got) if kind == "wrong"]
    assert np.mean(right) > np.mean(wrong)


@pytest.mark.parametrize("env_id", FAMILY_IDS)
def test_conversational_rows_score_the_same(env_id: str) -> None:
    """Chat prompts and assistant-message completions score as their plain strings do."""
    rows, completions, _ = _scripted_rows(env_id, conversational=True)
    rows = {c: v[:60] for c, v in rows.items()}
    completions = completions[:60]
    assert all(isinstance(p, list) and p[-1]["role"] == "user" for p in rows["prompt"])
    (reward,) = reward_funcs(env_id)
    chat = reward(rows["prompt"], [[{"role": "assistant", "content": c}] for c in completions], **rows)
    plain = reward([p[-1]["content"] for p in rows["prompt"]], completions, **rows)
    assert chat == plain == _env_rewards(env_id, rows, completions)


def test_prompt_dataset_rows() -> None:
    ds = prompt_dataset("TextCls-v0", "test", limit=5, seed=10)
    assert ds.column_names == ["prompt", "index", "seed", "answer", "env_id", "split"]
    assert list(ds["index"]) == [0, 1, 2, 3, 4] and list(ds["seed"]) == [10, 11, 12, 13, 14]
    env = gym.make("TextCls-v0", obs_mode="text", split="test")
    for row in ds:
        prompt, _ = env.reset(seed=row["seed"], options={"index": row["index"]})
        assert row["prompt"] == prompt and row["answer"] == env.unwrapped.gold_answer()
        assert row["env_id"] == "TextCls-v0" and row["split"] == "test"
    assert len(prompt_dataset("TextCls-v0", "test")) == env.unwrapped.num_examples
    chat = prompt_dataset("TextCls-v0", "test", limit=2, conversational=True)
    assert chat[0]["prompt"] == [{"role": "user", "content": ds[0]["prompt"]}]
    with pytest.raises(ValueError, match="limit"):
        prompt_dataset("TextCls-v0", "test", limit=-1)
    with pytest.raises(ValueError, match="obs_mode"):
        prompt_dataset("TextCls-v0", "test", obs_mode="dict")


def test_mismatched_rows_fail_naming_the_row() -> None:
    (reward,) = reward_funcs("TextCls-v0")
    test = prompt_dataset("TextCls-v0", "test", limit=4)
    train = prompt_dataset("TextCls-v0", "train", limit=4)
    # a train prompt under a test row's coordinates
    with pytest.raises(ValueError, match=r"row 2 \(index 2, seed 2, split 'test'\).*prompt_dataset"):
        reward([*test["prompt"][:2], train["prompt"][2]], ["x"] * 3, index=[0, 1, 2], seed=[0, 1, 2],
               split=["test"] * 3)
    # a dataset built with other env kwargs
    short = prompt_dataset("TextCls-v0", "test", limit=2, max_prompt_chars=360)
    with pytest.raises(ValueError, match=r"row 0 .*env kwargs \{\}.*differ from character"):
        reward(list(short["prompt"]), ["x", "y"], **{c: list(short[c]) for c in ("index", "seed", "split")})
    assert reward_funcs("TextCls-v0", max_prompt_chars=360)[0](
        list(short["prompt"]), list(short["answer"]), **{c: list(short[c]) for c in ("index", "seed", "split")}
    ) == [1.0, 1.0]
    # rows of another id, and rows without the replay columns
    with pytest.raises(ValueError, match="from 'NerTag-v0'"):
        reward(list(test["prompt"][:1]), ["x"], index=[0], seed=[0], split=["test"], env_id=["NerTag-v0"])
    with pytest.raises(ValueError, match="no 'index' column"):
        reward(list(test["prompt"][:1]), ["x"], seed=[0])
    # check_prompts=False scores the row's coordinates whatever the prompt says
    (loose,) = reward_funcs("TextCls-v0", check_prompts=False)
    assert loose(["anything"], [test["answer"][0]], index=[0], seed=[0], split=["test"]) == [1.0]


def test_reward_functions_name_pickle_and_parse() -> None:
    funcs = reward_funcs("TextCls-v0", format_reward=True, parse_error_reward=-0.5)
    assert [f.__name__ for f in funcs] == ["TextCls-v0_reward", "TextCls-v0_format"]
    assert all(isinstance(f, EnvReward) for f in funcs)
    ds = prompt_dataset("TextCls-v0", "test", limit=3, parse_error_reward=-0.5)
    cols = {c: list(ds[c]) for c in ("index", "seed", "split", "env_id")}
    answers = [ds[0]["answer"], "", "not a label"]
    assert funcs[0](list(ds["prompt"]), answers, **cols) == [1.0, -0.5, -0.5]
    assert funcs[1](list(ds["prompt"]), answers, **cols) == [1.0, 0.0, 0.0]
    clone = pickle.loads(pickle.dumps(funcs[0]))  # no env travels; the clone builds its own
    assert clone.__name__ == "TextCls-v0_reward" and clone(list(ds["prompt"]), answers, **cols) == [1.0, -0.5, -0.5]
    assert completion_text([{"role": "assistant", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}]) == "ab"
    assert completion_text([]) == ""
    with pytest.raises(TypeError):
        completion_text(3)


def test_import_nlp_envs_imports_no_integration() -> None:
    code = ("import sys, nlp_envs, gymnasium as gym; gym.make('TextCls-v0', obs_mode='text');"
            "bad = sorted(m for m in sys.modules if m.startswith(('nlp_envs.integrations', 'trl')));"
            "assert not bad, bad; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]


@functools.lru_cache(maxsize=1)
def _tiny_lm_parts() -> tuple:
    from nlp_envs.integrations.hf import word_tokenizer

    train = prompt_dataset("TextCls-v0", "train")
    return train, word_tokenizer(list(train["prompt"]) + list(train["answer"]))


def test_generation_policy_answers_the_prompts() -> None:
    import torch

    from nlp_envs.integrations.hf import generation_policy, tiny_causal_lm

    train, tok = _tiny_lm_parts()
    model = tiny_causal_lm(tok, hidden_size=32)
    was_training = model.training
    policy = generation_policy(model, tok, max_new_tokens=3, batch_size=4)
    prompts = list(train["prompt"][:5])
    answers = policy(prompts)
    assert len(answers) == 5 and all(isinstance(a, str) for a in answers)
    assert tok.padding_side == "left" and model.training == was_training  # both restored
    # batching and left padding change nothing: each prompt alone gives the same greedy answer
    assert [policy([p])[0] for p in prompts] == answers
    # the answers are decoded from the new tokens only
    enc = tok(prompts[0], return_tensors="pt")
    with torch.no_grad():
        out = model.generate(**enc, max_new_tokens=3, do_sample=False, pad_token_id=tok.pad_token_id)
    assert answers[0] == tok.decode(out[0, enc["input_ids"].shape[1]:], skip_special_tokens=True)
    assert policy([]) == []
    with pytest.raises(ValueError, match="max_new_tokens"):
        generation_policy(model, tok, max_new_tokens=0)


def test_word_tokenizer_round_trips_answers() -> None:
    from nlp_envs.integrations.hf import word_tokenizer

    tok = word_tokenizer(["Label: check_balance\nText: a b.", "pay_bill"])
    ids = tok("Label: check_balance\n")["input_ids"]
    assert ids[0] == tok.bos_token_id
    assert tok.decode(ids, skip_special_tokens=True) == "Label: check_balance\n"
    assert tok.decode(tok("pay_bill unknownword")["input_ids"], skip_special_tokens=True) == "pay_bill "
    assert tok.pad_token == "<pad>" and tok.eos_token == "</s>"


def test_grpo_trains_saves_loads_and_evaluates(tmp_path: Path) -> None:
    """A few GRPO steps of a tiny config-built Llama on TextCls-v0 in text mode, rewarded by the env; the
    checkpoint loads and is evaluated by ``nlp_envs.evaluate`` in text mode (the score is near zero: the
    pipeline is the point)."""
    _need_trl()
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer

    from nlp_envs.integrations.hf import generation_policy, tiny_causal_lm

    train, tok = _tiny_lm_parts()
    model = tiny_causal_lm(tok, hidden_size=32)
    args = GRPOConfig(output_dir=str(tmp_path / "grpo"), per_device_train_batch_size=8, num_generations=4,
                      max_completion_length=4, max_steps=3, learning_rate=1e-3, logging_steps=1,
                      save_strategy="steps", save_steps=3, report_to="none", use_cpu=True, seed=0,
                      disable_tqdm=True, dataloader_num_workers=0)
    funcs = reward_funcs("TextCls-v0", format_reward=True)
    trainer = GRPOTrainer(model=model, processing_class=tok, reward_funcs=funcs, train_dataset=train.select(range(64)),
                          args=args)
    trainer.train()
    logged = [h for h in trainer.state.log_history if "rewards/TextCls-v0_reward/mean" in h]
    assert len(logged) == 3 and all(0.0 <= h["rewards/TextCls-v0_reward/mean"] <= 1.0 for h in logged)
    assert "rewards/TextCls-v0_format/mean" in logged[0]
    ckpt = tmp_path / "grpo" / "checkpoint-3"
    assert (ckpt / "model.safetensors").is_file()
    loaded = AutoModelForCausalLM.from_pretrained(ckpt)
    loaded_tok = AutoTokenizer.from_pretrained(ckpt)
    policy = generation_policy(loaded, loaded_tok, max_new_tokens=4, batch_size=32)
    result = nlp_envs.evaluate("TextCls-v0", policy, "test[:64]", obs_mode="text", num_envs=16)
    assert result["num_examples"] == 64 and 0.0 <= result["accuracy"] <= 1.0
    assert result["env_id"] == "TextCls-v0" and "macro_f1" in result

"""DialogReply (reply generation, :mod:`nlp_envs.dialog`): pairs and context, episode ends, rewards, masks,
vector == sync, evaluation, play. DialogSelect is in ``test_dialog_select.py``, DialogReply-v1's corpus in
``test_dialog_v1.py``."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.error import InvalidAction

import nlp_envs
from nlp_envs import testing
from nlp_envs.dialog import EOS_TOKEN, GenerationEvaluator, SYS_TOKEN, USR_TOKEN
from nlp_envs.metrics import rouge_l, sentence_bleu, unigram_f1
from tests.helpers import assert_vector_equals_sync, gold_text_table

SMALL = {"dataset_kwargs": {"sizes": {"train": 200, "validation": 40, "test": 60}}}


def test_pairs_and_context(byo_dialogues) -> None:
    kwargs, dialogues = byo_dialogues
    env = gym.make("DialogReply-v0", info_mode="full", split="test", **kwargs).unwrapped
    expected = [(d["id"], i, t["utterance"]) for d in dialogues[:6]
                for i, t in enumerate(d["messages"]) if i > 0 and t["role"] == "agent"]
    assert env.num_examples == len(expected)
    for k, (did, i, ref) in enumerate(expected):
        _, info = env.reset(options={"index": k})
        assert (info["dialogue_id"], info["turn_index"]) == (did, i)
        assert env.references[k] == ref
        turns = next(d for d in dialogues if d["id"] == did)["messages"][:i]
        assert env.context_turns(k) == [{"speaker": t["role"], "text": t["utterance"]} for t in turns]
    # the context: speaker markers, the turns, then [SYS]; left-truncated to the LAST tokens
    enc = env.encoder
    obs, info = env.reset(options={"index": len(expected) - 1})
    full = []
    for t in env.context_turns(len(expected) - 1):
        full += [enc.token_to_id(SYS_TOKEN if t["speaker"] == "agent" else USR_TOKEN)] + enc.encode(t["text"])
    full.append(enc.token_to_id(SYS_TOKEN))
    n = int(obs["context_mask"].sum())
    assert obs["context_ids"][:n].tolist() == full and not info["truncated_context"]
    short = gym.make("DialogReply-v0", info_mode="full", split="test", max_context_tokens=6, **kwargs).unwrapped
    obs, info = short.reset(options={"index": len(expected) - 1})
    assert obs["context_ids"].tolist() == full[-6:] and info["truncated_context"]


def test_read_only_views_of_the_split(byo_dialogues) -> None:
    """``references``, ``context_ids``, ``context_lengths`` and ``context_truncated`` are what each example's
    reset shows, and cannot be written (the prepared arrays are shared by every env of the split)."""
    kwargs, _ = byo_dialogues
    for max_context_tokens in (128, 6):
        env = gym.make("DialogReply-v0", info_mode="full", split="test", max_context_tokens=max_context_tokens,
                       **kwargs).unwrapped
        n = env.num_examples
        assert len(env.references) == n and env.context_ids.shape == (n, max_context_tokens)
        assert env.context_lengths.shape == env.context_truncated.shape == (n,)
        for k in range(n):
            obs, info = env.reset(options={"index": k})
            length = int(env.context_lengths[k])
            assert obs["context_ids"].tolist() == env.context_ids[k].tolist() and obs["context_mask"].sum() == length
            assert bool(info["truncated_context"]) == bool(env.context_truncated[k])
        assert env.context_truncated.any() == (max_context_tokens == 6)
        for arr in (env.context_ids, env.context_lengths, env.context_truncated):
            with pytest.raises(ValueError, match="read-only"):
                arr[0] = 0


def test_eos_terminates_and_length_truncates() -> None:
    env = gym.make("DialogReply-v0", max_reply_tokens=8, **SMALL)
    base = env.unwrapped
    assert base.encoder.id_to_token(base.eos_id) == EOS_TOKEN
    _, info = env.reset(seed=0)
    ref = base.reference_ids[info["index"]][: base.reference_lengths[info["index"]]]
    for t, a in enumerate(ref):
        obs, reward, term, trunc, step_info = env.step(int(a))
        assert obs["reply_length"][0] == t + 1 and obs["reply_mask"].sum() == t + 1
    assert term and not trunc and int(a) == base.eos_id
    assert step_info["reply_tokens"] == len(ref) - 1
    env.reset(seed=1)
    word = base.encoder.token_to_id("the") or 10
    for t in range(8):
        obs, reward, term, trunc, step_info = env.step(word)
        assert not term and trunc == (t == 7)
    assert step_info["reply_tokens"] == 8 and obs["reply_ids"].tolist() == [word] * 8


@pytest.mark.parametrize("name,metric", [("f1", unigram_f1), ("bleu", sentence_bleu), ("rouge_l", rouge_l)])
def test_reward_equals_metric_on_decoded_text(name, metric) -> None:
    env = gym.make("DialogReply-v0", info_mode="full", reward=name, **SMALL).unwrapped
    rng = np.random.default_rng(0)
    for ep in range(6):
        _, info = env.reset(seed=ep)
        ref = env.reference_ids[info["index"]]
        actions = list(ref[: max(1, env.reference_lengths[info["index"]] - 1 - ep % 3)]) + [env.eos_id]
        if ep % 2:
            actions[0] = int(rng.integers(10, env.vocab_size))
        for a in actions:
            _, reward, term, trunc, step_info = env.step(int(a))
        assert term
        reply = env.encoder.decode(actions[:-1])
        assert step_info["reply"] == reply
        assert reward == pytest.approx(metric(reply, env._references[info["index"]]))
        assert step_info["score"] == reward


def test_callable_reward_gets_keywords() -> None:
    calls = []

    def reward_fn(*, context, reply, reference, **columns):
        calls.append(dict(context=context, reply=reply, reference=reference, **columns))
        return len(reply.split()) / 10

    env = gym.make("DialogReply-v0", info_mode="full", reward=reward_fn, max_reply_tokens=6, **SMALL).unwrapped
    _, info = env.reset(seed=3)
    tok = env.encoder.token_to_id("the") or 10
    for _ in range(6):
        _, reward, term, trunc, _ = env.step(tok)
    assert trunc and len(calls) == 1
    c = calls[0]
    i = info["index"]
    assert c["context"] == env.context_turns(i) and c["context"][0].keys() == {"speaker", "text"}
    assert c["reference"] == env._references[i] and c["reply"] == env.encoder.decode([tok] * 6)
    assert (c["dialogue_id"], c["turn_index"], c["index"]) == (info["dialogue_id"], info["turn_index"], i)
    assert c["reply_ids"].tolist() == [tok] * 6 and c["truncated"] is True
    assert reward == pytest.approx(len(c["reply"].split()) / 10)


def test_token_penalty() -> None:
    env = gym.make("DialogReply-v0", token_penalty=0.05, **SMALL).unwrapped
    _, info = env.reset(seed=0)
    ref = env.reference_ids[info["index"]][: env.reference_lengths[info["index"]]]
    rewards = [env.step(int(a))[1] for a in ref]
    assert rewards[:-1] == [-0.05] * (len(ref) - 1)
    assert rewards[-1] == pytest.approx(unigram_f1(env.encoder.decode(ref[:-1]), env._references[info["index"]]) - 0.05)


def test_action_mask() -> None:
    env = gym.make("DialogReply-v0", split="test", action_mask="train_replies", **SMALL).unwrapped
    train = gym.make("DialogReply-v0", split="train", **SMALL).unwrapped
    mask = env.action_masks()
    allowed = set(np.unique(np.concatenate([train.reference_ids[i][: train.reference_lengths[i]]
                                            for i in range(train.num_examples)])).tolist())
    assert set(np.flatnonzero(mask).tolist()) == allowed  # train reply tokens (cut to R) + EOS
    assert 0 < mask.sum() < env.vocab_size and mask[env.eos_id] and not mask[0]
    _, info = env.reset(seed=0)
    assert np.array_equal(info["action_mask"], mask)
    bad = int(np.flatnonzero(~mask)[0])
    _, _, _, _, step_info = env.step(bad)  # strict=False: accepted
    assert np.array_equal(step_info["action_mask"], mask)
    strict = gym.make("DialogReply-v0", split="test", action_mask="train_replies", strict=True, **SMALL).unwrapped
    strict.reset(seed=0)
    with pytest.raises(InvalidAction, match="masked out"):
        strict.step(bad)
    strict.step(int(np.flatnonzero(mask)[0]))  # still usable
    venv = gym.make_vec("DialogReply-v0", num_envs=3, vectorization_mode="vector_entry_point",
                        split="test", action_mask="train_replies", strict=True, **SMALL)
    venv.reset(seed=0)
    assert venv.unwrapped.action_masks().shape == (3, env.vocab_size)
    with pytest.raises(InvalidAction):
        venv.step(np.array([bad, env.eos_id, env.eos_id]))
    assert "action_mask" not in gym.make("DialogReply-v0", **SMALL).reset(seed=0)[1]


def test_evaluate_generation() -> None:
    eos = gym.make("DialogReply-v0", **SMALL).unwrapped.eos_id

    def short_reply(obs):  # "the" once, then EOS
        return np.where(obs["reply_length"][:, 0] == 0, 5, eos)

    res = nlp_envs.evaluate("DialogReply-v0", short_reply, split="test", num_envs=8, **SMALL)
    keys = {"f1", "bleu", "rouge_l", "distinct_1", "distinct_2", "mean_reply_tokens", "mean_reply_words"}
    assert keys <= set(res) and res["num_examples"] == gym.make("DialogReply-v0", split="test", **SMALL).unwrapped.num_examples
    assert res["mean_reply_tokens"] == 1.0 and 0 <= res["f1"] <= 1


@pytest.mark.parametrize("kwargs", [
    {},
    {"action_mask": "train_replies", "token_penalty": 0.01, "reward": "bleu", "max_reply_tokens": 6},
    {"order": "sequential", "max_reply_tokens": 4},
])
def test_vector_equals_sync(kwargs) -> None:
    assert_vector_equals_sync("DialogReply-v0", {**SMALL, **kwargs}, sequential=kwargs.get("order") == "sequential")


def test_generation_evaluator_metrics() -> None:
    ev = GenerationEvaluator()
    infos = {"reply": np.array(["a cat sat", "hello"], dtype=object),
             "reference": np.array(["the cat sat", "bye"], dtype=object),
             "reply_tokens": np.array([3, 1]), "index": np.array([0, 1])}
    ev.add(infos, np.array([0, 1]))
    out = ev.compute()
    assert out["f1"] == pytest.approx((1.0 + 0.0) / 2) and out["mean_reply_words"] == 2.0
    assert out["distinct_1"] == pytest.approx(3 / 3)  # "cat sat hello": articles dropped


def test_play_and_render() -> None:
    env = gym.make("DialogReply-v0", render_mode="ansi", **SMALL)
    env.reset(seed=0)
    base = env.unwrapped
    actions = base.parse_actions("What time would you like?")
    assert actions[-1] == base.eos_id and actions[:-1] == base.encoder.encode("What time would you like?")
    for a in actions:
        *_, info = env.step(a)
    text = env.render()
    assert "reference:" in text and "reply" in text and "f1:" in text


def test_unknown_reply_speaker_fails_clearly(byo_dialogues) -> None:
    kwargs, _ = byo_dialogues
    with pytest.raises(ValueError, match="reply_speaker"):
        gym.make("DialogReply-v0", **{**kwargs, "reply_speaker": "robot"})


# -- text mode (obs_mode="text", DialogReplyCodec) --------------------------------------------------------


def _token_return(env, index: int, actions) -> tuple[float, dict]:
    """The summed reward of stepping ``actions`` on example ``index`` of a token-id (dict) env, and the last info."""
    env.reset(options={"index": index})
    total, info = 0.0, {}
    for a in actions:
        _, reward, term, trunc, info = env.step(int(a))
        total += float(reward)
        if term or trunc:
            return total, info
    raise AssertionError("the actions did not end the episode")


def test_text_prompt_shows_the_raw_context_and_cuts_its_start() -> None:
    env = gym.make("DialogReply-v0", obs_mode="text", split="test", **SMALL)
    base = env.unwrapped
    index = next(i for i in range(base.num_examples) if len(base.context_turns(i)) >= 4)
    prompt, info = env.reset(options={"index": index})
    turns = base.context_turns(index)
    head, body = prompt.split("\n\n", 1)
    assert head == "Write the next reply of the system in this dialogue. Answer with the reply only, on one line."
    assert body.splitlines() == [f"{t['speaker'].capitalize()}: {t['text']}" for t in turns] + ["System:"]
    assert body == base.context_text(index) + "\nSystem:" and info["parse_error"] == ""
    limit = len(head) + len(turns[-1]["text"]) + 40
    assert len(prompt) > limit
    short = gym.make("DialogReply-v0", obs_mode="text", split="test", max_prompt_chars=limit, **SMALL)
    prompt, _ = short.reset(options={"index": index})
    assert len(prompt) <= limit and prompt.endswith(f"\nUser: {turns[-1]['text']}\nSystem:")  # the latest turn stays
    assert "\n\n..." in prompt  # the start of the context is cut


@pytest.mark.parametrize("env_id", ["DialogReply-v0", "DialogReply-v1"])
def test_text_gold_earns_the_reward_of_the_reference_tokens(env_id) -> None:
    """Every test example: the gold answer (the reference text) earns what the reference's token ids
    (``reference_ids``) earn in the token-id mode. v0's decoded references lose some apostrophes ("you ' re"):
    measured mean 0.9537 over its 1188 test examples; v1's are exact (1.0)."""
    text = gym.make(env_id, obs_mode="text", split="test").unwrapped
    ids = gym.make(env_id, split="test").unwrapped
    rewards = []
    for i in range(text.num_examples):
        text.reset(options={"index": i})
        _, reward, term, trunc, info = text.step(text.gold_answer())
        ref = ids.reference_ids[i][: ids.reference_lengths[i]]
        assert term and not trunc and info["parse_error"] == ""
        assert reward == _token_return(ids, i, ref)[0], i
        rewards.append(reward)
    assert np.mean(rewards) == pytest.approx(0.9537 if env_id == "DialogReply-v0" else 1.0, abs=1e-4)


@pytest.mark.parametrize("kwargs", [
    {},
    {"reward": "bleu", "token_penalty": 0.01, "max_reply_tokens": 8},
    {"reward": lambda *, reply, reference, truncated, **kw: len(reply) / 100 - truncated, "token_penalty": 0.5},
])
def test_text_reward_equals_the_token_reward(kwargs) -> None:
    """~50 examples x several answers: the text step's reward is the summed reward of stepping the same token
    ids (the first non-empty line, tokenized, cut to ``max_reply_tokens - 1``, then ``[EOS]``) in the token-id
    mode, whatever the reward and the token penalty."""
    text = gym.make("DialogReply-v0", obs_mode="text", split="test", info_mode="full", **SMALL, **kwargs).unwrapped
    ids = gym.make("DialogReply-v0", split="test", info_mode="full", **SMALL, **kwargs).unwrapped
    enc, R = ids.encoder, ids.max_reply_tokens
    n = min(50, text.num_examples)
    for i in range(n):
        other = text.references[(i + 7) % text.num_examples]
        answers = {
            "gold": (None, None),
            "other": (other, other),
            "empty": ("", ""),
            "garbage": ("\u2603 \x00 ??? zzqx \u00e9t\u00e9 \u4e2d\u6587", "\u2603 \x00 ??? zzqx \u00e9t\u00e9 \u4e2d\u6587"),
            "next turn": (f"  System: {other}\nUser: thanks\nSystem: bye", other),
            "blank lines": (f"\n\n  {other}  \n", other),
            "long": (" ".join([other] * 6), " ".join([other] * 6)),
        }
        for what, (answer, line) in answers.items():
            text.reset(options={"index": i})
            if answer is None:
                answer = line = text.gold_answer()
            expected = enc.encode(line)[: R - 1] + [ids.eos_id]
            assert text.parse_answer(answer).actions == tuple(expected), (i, what)
            _, reward, term, trunc, info = text.step(answer)
            want, last = _token_return(ids, i, expected)
            assert term and not trunc and info["parse_error"] == "", (i, what)
            assert reward == want, (i, what, reward, want)
            assert (info["score"], info["reply"], info["reply_tokens"]) == (last["score"], last["reply"], last["reply_tokens"])


def test_text_malformed_answers_never_raise() -> None:
    env = gym.make("DialogReply-v0", obs_mode="text", parse_error_reward=-0.5, info_mode="full", **SMALL)
    base = env.unwrapped
    env.reset(seed=0)
    _, reward, term, _, info = env.step("x" * 100_000)  # over max_answer_chars: the only parse error
    assert info["parse_error"] and reward == base.parse_error_reward == -0.5 and term
    assert info["reply"] == "" and info["reply_tokens"] == 0  # the no-answer actions: the empty reply
    for answer in ("", "   \n\n", "\ud800 lone surrogate", "\x00\ufffd\u2603 %%% ###", "[EOS] after the end",
                   "y" * base.max_answer_chars):
        env.reset(seed=1)
        _, reward, term, trunc, info = env.step(answer)
        assert info["parse_error"] == "" and np.isfinite(reward) and term and not trunc, answer[:20]
    assert base.parse_answer("hello [EOS] world").actions == (*base.encoder.encode("hello"), base.eos_id)


def test_text_action_mask_and_strict() -> None:
    """``action_mask="train_replies"``: with ``strict=False`` a reply holding masked-out tokens is stepped and
    scored as in the token-id mode; with ``strict=True`` it is a parse error (never ``InvalidAction``)."""
    kw = {"split": "test", "action_mask": "train_replies", "info_mode": "full", **SMALL}
    loose = gym.make("DialogReply-v0", obs_mode="text", **kw).unwrapped
    strict = gym.make("DialogReply-v0", obs_mode="text", strict=True, parse_error_reward=-1.0, **kw).unwrapped
    ids = gym.make("DialogReply-v0", **kw).unwrapped
    mask, enc = ids.action_masks(), ids.encoder
    word = next(t for t in sorted(enc.backend.get_vocab()) if t.isalpha() and not mask[enc.token_to_id(t)]
                and enc.encode(t) == [enc.token_to_id(t)])
    allowed = next(t for t in sorted(enc.backend.get_vocab()) if t.isalpha() and mask[enc.token_to_id(t)]
                   and enc.encode(t) == [enc.token_to_id(t)])
    for env in (loose, strict):
        env.reset(options={"index": 0})
    answer = f"{allowed} {word}"
    _, reward, _, _, info = loose.step(answer)
    assert info["parse_error"] == "" and "action_mask" in info
    assert reward == _token_return(ids, 0, [*enc.encode(answer), ids.eos_id])[0]
    _, reward, term, _, info = strict.step(answer)
    assert "masked out" in info["parse_error"] and word in info["parse_error"] and reward == -1.0 and term
    strict.reset(options={"index": 0})
    _, reward, _, _, info = strict.step(allowed)
    assert info["parse_error"] == "" and reward == _token_return(ids, 0, [enc.token_to_id(allowed), ids.eos_id])[0]


def test_text_evaluate_with_a_gold_policy() -> None:
    """``evaluate(..., obs_mode="text")`` with prompt -> gold answer: f1 is the mean gold reward (0.9537 on
    DialogReply-v0 test, see above; one prompt of the 1188 is shared by two examples with the same reference)."""
    gold = gold_text_table("DialogReply-v0", seed=0)
    res = nlp_envs.evaluate("DialogReply-v0", lambda prompts: [gold[p] for p in prompts], obs_mode="text", num_envs=8)
    assert res["num_examples"] == 1188 and res["f1"] == pytest.approx(0.9537, abs=1e-4)
    assert res["mean_reply_tokens"] > 5


@pytest.mark.data
def test_text_sgd(data_dir) -> None:
    testing.check_gymnasium("DialogReply-SGD-v0", obs_mode="text", data_dir=data_dir)  # strict check_env
    text = gym.make("DialogReply-SGD-v0", obs_mode="text", split="test", data_dir=data_dir).unwrapped
    ids = gym.make("DialogReply-SGD-v0", split="test", data_dir=data_dir).unwrapped
    for i in range(0, text.num_examples, max(1, text.num_examples // 200)):
        prompt, _ = text.reset(options={"index": i})
        assert text.observation_space.contains(prompt) and prompt.endswith("\nSystem:")
        _, reward, *_ = text.step(text.gold_answer())
        assert reward == _token_return(ids, i, ids.reference_ids[i][: ids.reference_lengths[i]])[0], i

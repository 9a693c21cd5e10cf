"""Hugging Face ``transformers`` causal LMs as text-mode policies, and tiny offline models for tests.

* :func:`generation_policy` turns a causal LM and its tokenizer into a text policy (a list of prompts to a
  list of answers: greedy decoding, left padding, only the new tokens decoded), the policy
  :func:`nlp_envs.evaluate` takes with ``obs_mode="text"``::

      import nlp_envs
      from transformers import AutoModelForCausalLM, AutoTokenizer
      from nlp_envs.integrations.hf import generation_policy

      model = AutoModelForCausalLM.from_pretrained("runs/grpo-textcls/checkpoint-100")
      tokenizer = AutoTokenizer.from_pretrained("runs/grpo-textcls/checkpoint-100")
      policy = generation_policy(model, tokenizer, max_new_tokens=16, batch_size=32)
      print(nlp_envs.evaluate("TextCls-v0", policy, "test", obs_mode="text", num_envs=32))

* :func:`word_tokenizer` and :func:`tiny_causal_lm` build a tokenizer (trained on given texts) and a
  small Llama from a config, with nothing downloaded: the pipeline of the lessons and tests without the
  Hub (a model that small, trained for a few steps, answers little right: they show the plumbing).

``torch``, ``transformers`` and ``tokenizers`` are dependencies of nlp-envs; they are imported inside the
functions, so importing this module is cheap.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["generation_policy", "tiny_causal_lm", "word_tokenizer"]

#: Special tokens of :func:`word_tokenizer`.
PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<s>", "</s>"
#: Words, single punctuation marks and single whitespace characters (kept: a newline ends an answer line).
_PIECES = r"[A-Za-z0-9_]+|[^A-Za-z0-9_\s]|\s"


def generation_policy(model: Any, tokenizer: Any, *, max_new_tokens: int = 32, batch_size: int = 16,
                      chat: bool = False, device: Any = None) -> Callable[[list[str]], list[str]]:
    """A text policy of a causal LM: ``prompts -> answers``, greedy.

    Prompts are tokenized as TRL's GRPO trainer does (plain prompts with the tokenizer's special tokens;
    ``chat=True``: a user message rendered by the tokenizer's chat template with the generation prompt,
    as for a ``conversational=True`` prompt dataset), left-padded in batches of ``batch_size``; the model
    generates at most ``max_new_tokens`` tokens greedily and only the new tokens are decoded (special
    tokens skipped). A tokenizer without a pad token pads with its EOS token.

    Args:
        model: a ``transformers`` causal LM (``generate``); evaluated in ``eval()`` mode, on ``device``
            (default: the model's).
        tokenizer: its tokenizer.
        max_new_tokens: the longest answer, in tokens.
        batch_size: prompts per ``generate`` call.
        chat: render prompts with the chat template.
        device: where the inputs go (default: the device of the model's parameters).
    """
    if not isinstance(max_new_tokens, int) or max_new_tokens < 1:
        raise ValueError(f"max_new_tokens={max_new_tokens!r} must be a positive int")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size={batch_size!r} must be a positive int")
    if tokenizer.pad_token_id is None:
        if tokenizer.eos_token is None:
            raise ValueError("the tokenizer has neither a pad token nor an EOS token to pad with")
        tokenizer.pad_token = tokenizer.eos_token

    def policy(prompts: list[str]) -> list[str]:
        import torch

        prompts = list(prompts)
        if not prompts:
            return []
        dev = device if device is not None else next(model.parameters()).device
        eos = model.generation_config.eos_token_id if model.generation_config.eos_token_id is not None \
            else tokenizer.eos_token_id
        was_training = model.training
        side = tokenizer.padding_side
        model.eval()
        tokenizer.padding_side = "left"
        answers: list[str] = []
        try:
            for start in range(0, len(prompts), batch_size):
                chunk = prompts[start:start + batch_size]
                if chat:
                    texts = [tokenizer.apply_chat_template([{"role": "user", "content": p}], tokenize=False,
                                                           add_generation_prompt=True) for p in chunk]
                    enc = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
                else:
                    enc = tokenizer(chunk, return_tensors="pt", padding=True)
                enc = {k: v.to(dev) for k, v in enc.items() if k in ("input_ids", "attention_mask")}
                with torch.no_grad():
                    out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False,
                                         pad_token_id=tokenizer.pad_token_id, eos_token_id=eos)
                new = out[:, enc["input_ids"].shape[1]:]
                answers.extend(tokenizer.batch_decode(new, skip_special_tokens=True))
        finally:
            tokenizer.padding_side = side
            if was_training:
                model.train()
        return answers

    policy.__name__ = f"generation_policy({type(model).__name__})"
    return policy


def word_tokenizer(texts: Iterable[str], *, max_vocab: int = 4000, min_count: int = 1) -> Any:
    """A word-level ``PreTrainedTokenizerFast`` trained on ``texts`` (offline, deterministic).

    Tokens are words (``[A-Za-z0-9_]+``: a label name such as ``card_arrival`` is one token), single
    punctuation marks and single whitespace characters; decoding concatenates them, so a decoded answer
    keeps its spaces and newlines. Specials: ``<pad>``, ``<unk>``, ``<s>`` (prepended to every encoding),
    ``</s>`` (EOS). The vocabulary holds the ``max_vocab`` most frequent pieces seen ``min_count`` times or
    more (ties broken alphabetically).
    """
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    counts: Counter[str] = Counter()
    pattern = re.compile(_PIECES)
    for t in texts:
        counts.update(pattern.findall(t))
    pieces = sorted((p for p, c in counts.items() if c >= min_count), key=lambda p: (-counts[p], p))[:max_vocab]
    vocab = {tok: i for i, tok in enumerate([PAD, UNK, BOS, EOS, *pieces])}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(_PIECES), behavior="isolated")
    tok.decoder = decoders.Fuse()
    tok.post_processor = processors.TemplateProcessing(single=f"{BOS} $A", pair=f"{BOS} $A $B",
                                                       special_tokens=[(BOS, vocab[BOS])])
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token=PAD, unk_token=UNK, bos_token=BOS,
                                   eos_token=EOS, padding_side="left")


def tiny_causal_lm(tokenizer: Any, *, hidden_size: int = 64, num_layers: int = 2, num_heads: int = 4,
                   max_positions: int = 1024, seed: int = 0) -> Any:
    """A small ``LlamaForCausalLM`` built from a config (random weights, nothing downloaded) for
    ``tokenizer``'s vocabulary and special tokens."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=hidden_size, intermediate_size=2 * hidden_size,
        num_hidden_layers=num_layers, num_attention_heads=num_heads, num_key_value_heads=num_heads,
        max_position_embeddings=max_positions, pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, tie_word_embeddings=True,
    )
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.bos_token_id = tokenizer.bos_token_id
    return model

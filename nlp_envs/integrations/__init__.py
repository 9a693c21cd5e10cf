"""Integrations of nlp-envs with other libraries, each in its own module and imported on demand (never by
``import nlp_envs``), so that the env library needs none of them:

* :mod:`nlp_envs.integrations.trl`: text mode (``obs_mode="text"``) as TRL data -- a prompt dataset of a
  split and reward functions that score a completion with the env's own step reward (``GRPOTrainer``);
  needs ``trl`` and ``datasets`` (``pip install -e ".[llm]"``).
* :mod:`nlp_envs.integrations.hf`: Hugging Face ``transformers`` causal LMs as text policies
  (:func:`~nlp_envs.integrations.hf.generation_policy`, for :func:`nlp_envs.evaluate` with
  ``obs_mode="text"``), and a tiny offline word tokenizer and config-built LM for tests and lessons.
"""

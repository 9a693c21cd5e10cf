"""Embedded default corpora: seeded generators that need no file and no network.

Each module exposes ``generate(seed=0, *, sizes=None, ...)`` returning ``{"train", "validation",
"test"}`` splits of plain Python lists; the same seed gives the same corpus on every machine.

* :mod:`nlp_envs.corpora.intents`: intent detection (text classification), 16 banking, travel and
  shopping intents with paraphrases, slot fillers and contrastive distractors.
* :mod:`nlp_envs.corpora.ner`: named-entity recognition with IOB2 tags over PER, LOC, ORG and DATE,
  with multi-token and context-ambiguous entities.
* :mod:`nlp_envs.corpora.ner_v1`: the ``NerTag-v1`` corpus, CoNLL-like sentences whose names are
  mostly unseen in train (name lists split between train and test) and take every type, so that
  only the context tells PER from LOC from ORG.
* :mod:`nlp_envs.corpora.dialog`: task-oriented dialogues (restaurant, taxi, coffee, hotel) whose
  system replies follow deterministically from the slots mentioned so far.
* :mod:`nlp_envs.corpora.dialog_v1`: the ``DialogReply-v1`` dialogues (restaurant, taxi, hotel,
  appointment, train), whose every system reply echoes slot values the user gave, drawn from large
  pools, so that a reply that ignores the context scores low.

The modules are not imported here, so importing the package costs nothing.
"""

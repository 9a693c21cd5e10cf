"""nlp-envs: NLP tasks as fast, offline Gymnasium environments.

``import nlp_envs`` registers every env id (see :data:`nlp_envs.registration.ENV_IDS`), so that
``gym.make("TextCls-v0")`` works; ``gym.make("nlp_envs:TextCls-v0")`` imports it for you.
"""

from nlp_envs.registration import ENV_IDS, register_envs

__version__ = "0.1.0"

register_envs()


def __getattr__(name: str):  # lazy: keep `import nlp_envs` light
    if name == "evaluate":
        from nlp_envs.evaluation import evaluate

        return evaluate
    raise AttributeError(f"module 'nlp_envs' has no attribute {name!r}")


__all__ = ["ENV_IDS", "evaluate", "register_envs", "__version__"]

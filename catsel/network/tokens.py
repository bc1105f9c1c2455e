"""Token layers' names, framework-free: a captured ``"LAYER[class]"`` is a layer's class token, and how many
class tokens lead a token output's shape (the Keras and PyTorch sources count them the same way)."""

from __future__ import annotations

import math

__all__ = ["CLASS_TOKEN", "class_tokens", "base_layer"]


#: A captured name ``"LAYER[class]"`` takes the class token of a token layer (a vision transformer's) as
#: its own units; ``"LAYER"`` alone is the maximum over the patch tokens.
CLASS_TOKEN = "[class]"


def class_tokens(shape) -> int:
    """How many class tokens lead a token output of shape (batch, tokens, channels).

    One when the tokens less one make a square grid of patches and the tokens
    do not (ViT's ``1 + 14 * 14``); none otherwise, and for any other shape.

    Parameters
    ----------
    shape : tuple

    Returns
    -------
    int
    """
    if len(shape) != 3 or shape[1] is None:
        return 0
    tokens = int(shape[1])
    if math.isqrt(tokens) ** 2 == tokens:
        return 0
    return 1 if tokens > 1 and math.isqrt(tokens - 1) ** 2 == tokens - 1 else 0


def base_layer(name: str) -> str:
    """The network's layer behind a captured name (``"block[class]"`` → ``"block"``).

    Parameters
    ----------
    name : str

    Returns
    -------
    str
    """
    return name[: -len(CLASS_TOKEN)] if name.endswith(CLASS_TOKEN) else name

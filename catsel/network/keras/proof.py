"""A Keras network's capture checked against a plain forward pass, and its default layers against the rule: the
four checks :mod:`catsel.network.torch.proof` makes of a PyTorch network, on the flat graph
(:mod:`catsel.network.keras.graph`). ``benchmarks/zoo.py`` runs them on every ``keras.applications`` model and
keras-hub's vision backbones.
"""

from __future__ import annotations

import time

import numpy as np

from ..proofs import Proof, check_fields_and_listing, check_values

__all__ = ["prove"]


def prove(network, images: np.ndarray, tolerance: float = 1e-5) -> Proof:
    """Check a Keras network's default layers and capture.

    (a) the layers run in depth order, each is where its units pass on (:func:`~.graph.passes_on`; a
    transformer block is its own unit), none is the classifier; (b) catsel's maxima, and the value at catsel's
    position, equal the maximum of the same layer's output computed by Keras alone, to ``tolerance`` of the
    layer's range; (c) receptive fields computed, measured or none; (d) ``catsel.layers`` lists each default.

    Parameters
    ----------
    network : ActivationModel
    images : ndarray of uint8, shape (batch, height, width, channels)
    tolerance : float, default 1e-5

    Returns
    -------
    Proof
    """
    from .graph import passes_on
    from .preprocess import Preprocess
    from .units import captured_output, leading_tokens

    proof = Proof(layers=len(network.layers))
    graph = network.graph
    order = network.relative_depth()
    depths = [order[layer] for layer in network.layers]
    if depths != sorted(depths):
        proof.rule.append("the layers are not in the order they run")
    for layer in network.layers:
        if layer.endswith("[class]"):
            continue
        output = graph.node(layer).output
        onward = passes_on(graph, layer)
        if onward != layer and len(output.shape) != 3:  # a transformer block is its own unit
            proof.rule.append(f"{layer} is taken before {onward}, where its units pass on")
        if graph.is_output(output) and len(output.shape) == 2:
            proof.rule.append(f"{layer} is the classifier's output")
    maxima, positions = network.predict(images)
    start = time.perf_counter()  # a second time: the first pays for what is traced and compiled once
    network.predict(images)
    proof.capture_s = time.perf_counter() - start
    probe = graph.model([captured_output(graph, layer, k) for k, layer in enumerate(network.layers)])
    x = Preprocess(network.preprocess, channels=images.shape[-1])(images.astype("float32"))
    outs = probe.predict_on_batch(x)
    outs = outs if isinstance(outs, (list, tuple)) else [outs]
    network.network.predict_on_batch(x)
    start = time.perf_counter()
    network.network.predict_on_batch(x)
    proof.plain_s = time.perf_counter() - start
    plain = {}
    for layer, out in zip(network.layers, outs):
        out = np.asarray(out, dtype=np.float64)
        if out.ndim == 4:
            out = out.reshape(len(out), -1, out.shape[-1])
        elif out.ndim == 3 and not layer.endswith("[class]"):
            out = out[:, sum(leading_tokens(graph, graph.node(layer).output.shape)):]
        plain[layer] = out
    check_values(proof, network.layers, maxima, positions, plain, tolerance)
    check_fields_and_listing(proof, network)
    return proof

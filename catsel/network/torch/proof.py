"""A PyTorch network's capture checked against a plain forward pass, and its default layers against the rule.

What ``benchmarks/zoo.py`` runs on every torchvision and timm architecture, and what a lab can run on its own
module before trusting a count (:func:`prove`):

- **(a) the rule**: the default layers exist, run once, in depth order; none is the classifier's output; none
  is a conv or linear module's output that goes on, alone, into a batch norm or an activation (its units
  are taken after them), nor a batch norm's output that goes on, alone, into an activation;
- **(b) the values**: catsel's maxima equal ``amax`` of the same module's output in a plain forward pass with
  one forward hook (no reduction in the hook, no early stop), to 1e-5 in float32, and the value at catsel's
  position is that maximum;
- **(c) receptive fields**: computed from the graph, measured by gradients, or none (a map a function made
  from tokens), and which;
- **(d) listed**: ``catsel.layers`` lists each default layer as a default.
"""

from __future__ import annotations

import numpy as np

from ..proofs import Proof, check_fields_and_listing, check_values
from .trace import AFTER, Op, elementwise, module_of, per_unit, unit_layer

__all__ = ["prove", "plain_maxima"]


def plain_maxima(network, images: np.ndarray) -> tuple[dict, float]:
    """Each layer's per-unit maximum and the position of every maximum, from a plain forward pass with one
    hook per module that keeps its whole output.

    Parameters
    ----------
    network : TorchNetwork
    images : ndarray of uint8, shape (batch, height, width, 3)

    Returns
    -------
    outputs : dict of str to ndarray
        Per layer, (batch, positions, units) float32 (or (batch, units) for a vector or a class token).
    seconds : float
        The forward pass alone, without hooks.
    """
    import time

    import torch

    modules = dict(network.module.named_modules())
    kept: dict[str, object] = {}
    hooks = [modules[module_of(name)].register_forward_hook(
        lambda m, a, o, base=module_of(name): kept.__setitem__(base, o.detach().clone()))
        for name in network.layers]
    x = network.prepare(network.put(images))
    try:
        with torch.no_grad():
            network.module(x)
    finally:
        for h in hooks:
            h.remove()
    with torch.no_grad():
        start = time.perf_counter()
        network.module(x)
        seconds = time.perf_counter() - start
    outputs = {}
    for name in network.layers:
        out = kept[module_of(name)]
        if out.ndim == 3 and out.shape[1] == len(images) and out.shape[0] != len(images):
            out = out.transpose(0, 1)  # sequence-first tokens
        post = network.post(name)
        out = (post(out) if post is not None else out).float().cpu().numpy()
        if name.endswith("[class]") or (out.ndim == 3 and network.map_shapes[name] is None):
            outputs[name] = out[:, 0]
        elif out.ndim == 2:
            outputs[name] = out
        elif out.ndim == 4:
            grid = out if network.channels_last(name) else np.moveaxis(out, 1, -1)
            outputs[name] = grid.reshape(grid.shape[0], -1, grid.shape[-1])
        else:
            outputs[name] = out[:, sum(network.leading_tokens(name)):]
    return outputs, seconds


def _rule(network) -> list[str]:
    """The default layers against the rule (check (a))."""
    problems = []
    first, calls = network._first, network._calls
    nodes = sorted([*(c for c in calls if c.atom), *network._ops], key=lambda n: n.index)
    order = [first[module_of(name)].index for name in network.layers]
    if order != sorted(order):
        problems.append("the layers are not in the order they run")
    for name in network.layers:
        call = first.get(module_of(name))
        if call is None:
            problems.append(f"{name} is no module of the network")
            continue
        if network._counts[call.name] != 1:
            problems.append(f"{name} runs {network._counts[call.name]} times")
        if call.output is network._output and call.shape is not None and len(call.shape) == 2:
            problems.append(f"{name} is the classifier's output")
        if AFTER in name or not call.atom:
            continue
        after = [n for n in nodes if n.index > call.index and any(t is call.output for t in n.inputs)]
        if len(after) != 1:
            continue
        nxt = after[0]
        goes_on = (nxt.activation if isinstance(nxt, Op)
                   else per_unit(nxt.module) or (elementwise(nxt) and network._counts[nxt.name] == 1))
        norm = per_unit(call.module) and not elementwise(call)
        if goes_on and (unit_layer(call.module) or (norm and (isinstance(nxt, Op) or elementwise(nxt)))):
            what = nxt.name if isinstance(nxt, Op) else f"{nxt.name} ({type(nxt.module).__name__})"
            problems.append(f"{name} is taken before {what}, which alone follows it")
    return problems


def prove(network, images: np.ndarray, tolerance: float = 1e-5) -> Proof:
    """Check a PyTorch network's default layers and capture (see the module's notes).

    Parameters
    ----------
    network : TorchNetwork
        As :func:`catsel.activation_model` returns it, with its default layers.
    images : ndarray of uint8, shape (batch, height, width, 3)
    tolerance : float, default 1e-5
        Relative, against the largest absolute maximum of the layer.

    Returns
    -------
    Proof
    """
    import time

    proof = Proof(layers=len(network.layers))
    proof.rule = _rule(network)
    maxima, positions = network.predict(images)
    start = time.perf_counter()  # a second time: the first pays for what is made once
    network.predict(images)
    proof.capture_s = time.perf_counter() - start
    plain, proof.plain_s = plain_maxima(network, images)
    check_values(proof, network.layers, maxima, positions, plain, tolerance)
    check_fields_and_listing(proof, network)
    return proof

"""A network's layers as one flat graph, through every model nested inside it.

The networks researchers bring are often models inside models: a pretrained
base fine-tuned inside a ``Sequential`` (``[Input, VGG16, pooling, Dense]``),
an input adapter followed by a published network, a ConvNeXt whose stem is a
model of its own. Keras shows such a model as one layer, and the tensors
inside it belong to its own graph: they cannot be outputs of a model built on
the outer one. :class:`Graph` calls every layer again, in order, on one new
input, walking into each nested functional or ``Sequential`` model, so that
every layer at any depth has an output in one graph. The layers are the
network's own objects (same weights): the flat graph computes what the network
computes, and its outputs can be any layer's.

Names: a layer is named as in Keras when that name is unique in the whole
network, else by its path through the models that hold it, ``outer/inner``
(Keras allows no ``/`` in a layer name, so a path never clashes with a name).
A nested model's own name stands for its output.

This module also holds the rule for which units are captured by default
(:func:`default_layers`): every conv layer and every dense layer but the
classifier, each taken from the tensor the network passes on.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import keras

from ...errors import ModelError

__all__ = ["Graph", "Node", "graph_of", "default_layers", "passes_on", "defaults_note", "is_block", "is_conv_block",
           "CONV_TYPES",
           "PER_UNIT", "MERGES", "UNFOLDED"]

#: The layers whose units are filters over a map (or units of a vector).
CONV_TYPES = (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D, keras.layers.DepthwiseConv2D,
              keras.layers.SeparableConv2D)

#: Layers that act on each unit alone: what a conv or dense layer's units pass on is their output.
PER_UNIT = (keras.layers.BatchNormalization, keras.layers.LayerNormalization, keras.layers.Activation,
            keras.layers.ReLU, keras.layers.LeakyReLU, keras.layers.ELU, keras.layers.PReLU)

#: Where the branches of a residual or multi-branch block meet: the block passes on their merge. A
#: functional graph's ``x + y`` or ``ops.concatenate`` is an operation of the same name (ConvNeXt's additions).
MERGES = (keras.layers.Add, keras.layers.Concatenate)
_MERGE_NAMES = ("Add", "Concatenate")
#: Activations written as operations (``ops.relu(x)``) in a functional graph: per unit too.
_PER_UNIT_NAMES = ("Relu", "Relu6", "Gelu", "Silu", "Swish", "HardSwish", "HardSilu", "LeakyRelu", "Elu", "Selu",
                   "Sigmoid", "Tanh", "Mish")

#: Layers a branch may pass through on its way to a merge, without being what the block passes on:
#: dropout (nothing at inference), pooling (a strided shortcut meets a pooled branch, as in Xception), and
#: keras.applications' per-channel scales and stochastic depth (ConvNeXt), known by their class names.
_ON_THE_WAY = (keras.layers.Dropout, keras.layers.SpatialDropout2D, keras.layers.GaussianNoise,
               keras.layers.MaxPooling2D, keras.layers.AveragePooling2D)
_ON_THE_WAY_NAMES = ("LayerScale", "StochasticDepth")

#: Layers that hold a transformer's blocks and call them one after the other in their own ``call``: keras-hub's
#: ViT and DINOv2/v3 encoders. Keras shows such a layer as one operation, its blocks out of reach; the flat graph
#: runs its ``call`` with every sublayer it calls made a node of its own (the same objects, the same order), so
#: that each block's output is a layer. tests/test_hub.py checks the unfolded network against keras-hub's.
UNFOLDED = ("ViTEncoder", "DINOV2Encoder", "DINOV3Encoder")


class _Unfolding:
    """Stands for a layer of :data:`UNFOLDED` while its ``call`` runs on the flat graph: each sublayer it calls
    (an attribute, or a list of them) is called through ``wrap``, so it becomes a node; anything else is the
    layer's own attribute."""

    def __init__(self, layer, wrap):
        self._layer, self._wrap = layer, wrap

    def __getattr__(self, name):
        value = getattr(self._layer, name)
        if isinstance(value, keras.layers.Layer):
            return self._wrap(value)
        if isinstance(value, (list, tuple)) and value and all(isinstance(v, keras.layers.Layer) for v in value):
            return [self._wrap(v) for v in value]
        return value


class _Alias(keras.layers.Layer):
    """A layer called under another name: two layers of a network that share a Keras name (one inside a
    nested model) cannot both be operations of one flat model, so the second is called through this.
    Its weights are the layer's own (tracked, not copied)."""

    def __init__(self, layer, **kwargs):
        super().__init__(autocast=False, dtype=layer.dtype_policy, **kwargs)
        self.aliased = layer
        self._call_has_training_arg = getattr(layer, "_call_has_training_arg", False)

    def call(self, *args, training=None, **kwargs):
        if self._call_has_training_arg:
            kwargs["training"] = training
        return self.aliased(*args, **kwargs)

    def compute_output_spec(self, *args, training=None, **kwargs):
        return self.aliased.compute_output_spec(*args, **kwargs)


@dataclass
class Node:
    """One layer call of the flat graph.

    Parameters
    ----------
    name : str
        catsel's name of the layer (see the module docstring).
    path : tuple of str
        The names of the models that hold it, then its own.
    layer : keras.layers.Layer
        The network's layer (a nested model for a model's own output).
    inputs : list of KerasTensor
        What it was called on, in the flat graph.
    output : KerasTensor or list of KerasTensor
        Its output in the flat graph.
    model : bool
        A nested model's output, or an unfolded layer's (:data:`UNFOLDED`): its layers have nodes of their own.
    """

    name: str
    path: tuple[str, ...]
    layer: object
    inputs: list
    output: object
    model: bool = False

    @property
    def kind(self) -> str:
        """The layer's class name (``"Conv2D"``, ``"Add"``)."""
        return type(self.layer).__name__


def _inlinable(layer) -> bool:
    """A model whose graph Keras keeps (functional, or a built Sequential): its layers can be walked."""
    from keras.src.models.functional import Functional

    return isinstance(layer, Functional) or (isinstance(layer, keras.Sequential)
                                             and getattr(layer, "_functional", None) is not None)


def _function(model):
    return model._functional if isinstance(model, keras.Sequential) else model


@dataclass
class Graph:
    """The network as one flat graph (see the module docstring). Made by :func:`graph_of`.

    Parameters
    ----------
    network : keras.Model
    inputs : list of KerasTensor
        The flat graph's inputs (new ``keras.Input`` tensors of the network's input shapes).
    outputs : list of KerasTensor
        The network's outputs, computed through the flat graph.
    nodes : dict of str to Node
        Every layer (and nested model) by catsel's name, in the order they are computed.
    derived : dict
        What other modules compute once from the graph and keep with it (the receptive fields:
        :func:`catsel.network.keras.fields.graph_fields`).
    """

    network: keras.Model
    inputs: list
    outputs: list
    nodes: dict = field(default_factory=dict)
    _consumers: dict = field(default_factory=dict, repr=False, init=False)
    derived: dict = field(default_factory=dict, repr=False, init=False)

    def __contains__(self, name: str) -> bool:
        return name in self.nodes

    def node(self, name: str) -> Node:
        """The node of a layer, by catsel's name or its full ``outer/inner`` path.

        Parameters
        ----------
        name : str

        Returns
        -------
        Node

        Raises
        ------
        ModelError
            Listing the names, when ``name`` is none of them.
        """
        if name in self.nodes:
            return self.nodes[name]
        for node in self.nodes.values():
            if "/".join(node.path) == name:
                return node
        raise ModelError(f"no layer named {name!r} in {self.network.name}; valid names: {', '.join(self.nodes)}")

    def consumers(self, tensor) -> list[Node]:
        """The nodes that take ``tensor`` as an input.

        Parameters
        ----------
        tensor : KerasTensor
            A tensor of this graph.

        Returns
        -------
        list of Node
        """
        return self._consumers.get(id(tensor), [])

    def is_output(self, tensor) -> bool:
        """Whether ``tensor`` is one of the network's outputs.

        Parameters
        ----------
        tensor : KerasTensor

        Returns
        -------
        bool
        """
        return any(tensor is t for t in self.outputs)

    def model(self, outputs, name: str | None = None) -> keras.Model:
        """A functional model from the flat graph's inputs to ``outputs``.

        Parameters
        ----------
        outputs : KerasTensor or list of KerasTensor
            Tensors of this graph.
        name : str, optional

        Returns
        -------
        keras.Model
        """
        return keras.Model(self.inputs, outputs, name=name)


def graph_of(network: keras.Model, shape: tuple | None = None) -> Graph:
    """The flat graph of ``network`` (each call makes a new one: keep it where it is used again).

    Parameters
    ----------
    network : keras.Model
        Functional or ``Sequential``, with models nested at any depth.
    shape : tuple, optional
        The input's shape without the batch (``(height, width, channels)``),
        where the network leaves a dimension free: the maps get their sizes.

    Returns
    -------
    Graph

    Raises
    ------
    ModelError
        When the network's own graph cannot be walked (a subclassed model).
    """
    if not _inlinable(network):
        raise ModelError(f"{network.name} is a subclassed Keras model: catsel needs a functional or Sequential "
                         "model whose layers it can see; rebuild it with the functional API and load its weights")
    inputs = [keras.Input(shape=tuple(shape) if shape is not None and k == 0 else tuple(t.shape[1:]), dtype=t.dtype,
                          name=f"catsel_input_{k}")
              for k, t in enumerate(_function(network).inputs)]
    calls: list[tuple[tuple[str, ...], object, list, object, bool]] = []
    used: dict[str, int] = {}
    made: dict[int, str] = {id(t): "input" for t in inputs}  # tensor → the name of what made it
    taken: set[str] = set()

    def own_name(op, args) -> str:
        """A layer's name; an operation's (``x + y``) after what made its last input: Keras numbers operations
        by a counter of the session, so ``add_7`` would name another tensor when the network is built again."""
        if isinstance(op, keras.layers.Layer):
            return op.name
        source = [made.get(id(t), "?") for t in _tensors(args)]
        name = base = f"{type(op).__name__.lower()}_after_{source[-1] if source else 'input'}"
        k = 1
        while name in taken:
            k += 1
            name = f"{base}_{k}"
        taken.add(name)
        return name

    def operation_fn(op, prefix):
        def call(*args, **kwargs):
            if isinstance(op, keras.Model) and _inlinable(op):
                x = args[0] if len(args) == 1 else list(args)
                out = _function(op)._run_through_graph(x, lambda inner: operation_fn(inner, prefix + (op.name,)))
                out = out[0] if isinstance(out, (list, tuple)) and len(out) == 1 else out
                calls.append((prefix + (op.name,), op, _tensors(args), out, True))
                for t in _tensors([out]):
                    made[id(t)] = op.name
                return out
            if type(op).__name__ in UNFOLDED and isinstance(op, keras.layers.Layer):
                out = type(op).call(_Unfolding(op, lambda inner: operation_fn(inner, prefix + (op.name,))),
                                    *args, **kwargs)
                calls.append((prefix + (op.name,), op, _tensors(args), out, True))
                for t in _tensors([out]):
                    made[id(t)] = op.name
                return out
            callee = op
            if op.name in used and used[op.name] != id(op):  # the name is taken in the flat graph
                callee = _Alias(op, name=f"catsel_alias_{len(calls)}")
            used.setdefault(op.name, id(op))
            try:
                out = callee(*args, **kwargs)
            except (ValueError, TypeError, NotImplementedError, AttributeError, KeyError, IndexError) as exc:
                where = "/".join(prefix + (op.name,))
                text = " ".join(str(exc).split())[:200]
                raise ModelError(f"{network.name}: catsel cannot call its layer {where} ({type(op).__name__}) on "
                                 f"the input it feeds ({type(exc).__name__}: {text}); check that the model runs on "
                                 "images of this size, or capture the layers before it with --layers") from None
            name = own_name(op, args)
            calls.append((prefix + (name,), op, _tensors(args), out, False))
            for t in _tensors([out]):
                made[id(t)] = name
            return out
        return call

    x = inputs[0] if len(inputs) == 1 else inputs
    outputs = _function(network)._run_through_graph(x, lambda op: operation_fn(op, ()))
    outputs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
    graph = Graph(network, inputs, outputs)
    counts: dict[str, int] = {}
    for path, *_ in calls:
        counts[path[-1]] = counts.get(path[-1], 0) + 1
    for path, layer, ins, out, is_model in calls:  # a nested model's own node follows its last layer
        name = path[-1] if counts[path[-1]] == 1 else "/".join(path)
        if name in graph.nodes:  # a shared layer called again: its first call stands for it
            continue
        node = Node(name, path, layer, ins, out, is_model)
        graph.nodes[name] = node
        if not is_model:
            for t in ins:
                graph._consumers.setdefault(id(t), []).append(node)
    return graph


def _tensors(args) -> list:
    """The tensors among a call's arguments, flattened."""
    from keras import tree

    return [t for t in tree.flatten(list(args)) if isinstance(t, keras.KerasTensor)]


def _single(output):
    return output[0] if isinstance(output, (list, tuple)) and len(output) == 1 else output


def passes_on(graph: Graph, name: str) -> str:
    """The layer whose output is what ``name``'s units pass on to the rest of the network.

    Follows ``name`` through the normalisation and activation layers that
    alone consume it (conv → batch norm → ReLU gives the ReLU). Where that
    output, alone or through dropout or a pooling, feeds only the merge of a
    residual or multi-branch block (an addition or a concatenation), it is the
    block's output: the merge, and the activation after it if any (ResNet's
    ``conv2_block1_out``). A conv whose output only feeds such a merge is
    not a unit of its own: the network never passes it on alone.

    Parameters
    ----------
    graph : Graph
    name : str

    Returns
    -------
    str
    """
    node = graph.node(name)
    seen = 0
    while seen < 64:
        seen += 1
        node = _through(graph, node)
        merge = _to_merge(graph, node)
        if merge is None:
            return node.name
        node = merge
    return node.name


def _per_unit(layer) -> bool:
    return isinstance(layer, PER_UNIT) or (not isinstance(layer, keras.layers.Layer)
                                           and type(layer).__name__ in _PER_UNIT_NAMES)


def _merge(layer) -> bool:
    return isinstance(layer, MERGES) or type(layer).__name__ in _MERGE_NAMES


def _through(graph: Graph, node: Node) -> Node:
    """Follow single per-unit consumers from ``node``."""
    while True:
        out = _single(node.output)
        if isinstance(out, (list, tuple)) or graph.is_output(out):
            return node
        consumers = graph.consumers(out)
        if len(consumers) != 1 or not _per_unit(consumers[0].layer):
            return node
        node = consumers[0]


def _to_merge(graph: Graph, node: Node) -> Node | None:
    """The merge that ``node``'s output alone feeds, perhaps through dropout or a pooling; else None."""
    while True:
        out = _single(node.output)
        if isinstance(out, (list, tuple)) or graph.is_output(out):
            return None
        consumers = graph.consumers(out)
        if len(consumers) != 1:
            return None
        nxt = consumers[0]
        if _merge(nxt.layer):
            return nxt
        if not (isinstance(nxt.layer, _ON_THE_WAY) or _per_unit(nxt.layer)
                or type(nxt.layer).__name__ in _ON_THE_WAY_NAMES):
            return None
        node = nxt


def is_block(node: Node) -> bool:
    """Whether a node is a transformer block: one layer holding an attention layer, whose output is tokens.

    Its units are the channels of its output (what the block passes on to the next), over the patch tokens;
    the conv and dense layers inside it are not nodes of the graph.

    Parameters
    ----------
    node : Node

    Returns
    -------
    bool
    """
    if _one_layer_output(node, 3) is None:
        return False
    return any(isinstance(sub, keras.layers.MultiHeadAttention) or "Attention" in type(sub).__name__
               for sub in node.layer._flatten_layers(include_self=False, recursive=True))


def _one_layer_output(node: Node, ndim: int):
    """A node's single output of ``ndim`` dimensions, when the node is one layer (no model); else None."""
    layer = node.layer
    if node.model or not isinstance(layer, keras.layers.Layer) or isinstance(layer, keras.Model):
        return None
    out = _single(node.output)
    return None if isinstance(out, (list, tuple)) or len(out.shape) != ndim else out


def is_conv_block(node: Node) -> bool:
    """Whether a node is a block of convs in one layer of its own (keras-hub's ``InvertedResidualBlock``): a
    layer that is no Keras layer type nor a model, holds conv layers, and gives one map.

    Its units are the channels of its output, what the block passes on, as a transformer block's; the convs
    inside it are not nodes of the graph.

    Parameters
    ----------
    node : Node

    Returns
    -------
    bool
    """
    if _one_layer_output(node, 4) is None or type(node.layer).__module__.startswith("keras."):
        return False  # (one of Keras' own layers is a node as it is)
    return any(isinstance(sub, CONV_TYPES) for sub in node.layer._flatten_layers(include_self=False, recursive=True))


def default_layers(network: "keras.Model | Graph") -> list[str]:
    """The units captured by default: every conv layer's and every dense layer's but the classifier's, and
    every transformer block's output (:func:`is_block`) and every block of convs held in one layer
    (:func:`is_conv_block`).

    Layers inside nested models count like the others. Each is taken as
    what the network passes on (:func:`passes_on`): after the normalisation
    and activation layers that follow it, and for a branch of a residual or
    multi-branch block, the block's output, once per block. The network's
    last conv layer is a default too (a network without its top ends in it);
    only a classifier (a dense output) is left out. ``layers=`` takes any
    layer by name.

    Parameters
    ----------
    network : keras.Model or Graph

    Returns
    -------
    list of str
        Layer names in network order.
    """
    graph = network if isinstance(network, Graph) else graph_of(network)
    nodes = [n for n in graph.nodes.values() if not n.model]
    dense = [n for n in nodes if isinstance(n.layer, keras.layers.Dense)]

    def classifier(node: Node) -> bool:
        out = _single(node.output)
        return not isinstance(out, (list, tuple)) and graph.is_output(out) and len(out.shape) == 2

    names = [n.name for n in nodes if isinstance(n.layer, CONV_TYPES)
             or (isinstance(n.layer, keras.layers.Dense) and not classifier(n))]
    blocks = [n.name for n in nodes if is_block(n) or is_conv_block(n)]
    if not names and not blocks and dense:
        names = [n.name for n in dense]
    chosen = [passes_on(graph, n) for n in names]
    chosen = ([n for n in chosen if not classifier(graph.nodes[n])] or chosen) + blocks
    order = {name: k for k, name in enumerate(graph.nodes)}
    return sorted(dict.fromkeys(chosen), key=order.__getitem__)


def defaults_note(graph: Graph, chosen) -> str:
    """One sentence on what the default layers hold, and which conv and dense layers they leave out, and why.

    Parameters
    ----------
    graph : Graph
    chosen : sequence of str
        The captured layers.

    Returns
    -------
    str
    """
    chosen = list(chosen)
    taken = set(chosen)
    merged, left = [], []
    for node in graph.nodes.values():
        if node.model or not isinstance(node.layer, CONV_TYPES + (keras.layers.Dense,)) or node.name in taken:
            continue
        if _through(graph, node).name in taken:
            continue  # captured after its normalisation and activation: the same units
        target = passes_on(graph, node.name)
        if target in taken:
            merged.append((node.name, target))
        else:
            out = _single(node.output)
            why = "the classifier" if not isinstance(out, (list, tuple)) and graph.is_output(out) else "not asked for"
            left.append(f"{node.name} ({why})")
    text = f"{len(chosen)} layers captured"
    blocks = [name for name in chosen if name in graph.nodes and is_block(graph.nodes[name])]
    if blocks:
        text += (f"; {len(blocks)} are transformer blocks, each unit the maximum of a channel over the patch tokens "
                 f"(the class token is a layer of its own, {blocks[0]}[class], captured when asked for)")
    if merged:
        blocks = len({t for _, t in merged})
        text += (f"; {len(merged)} conv or dense layers feed the merge of a residual or multi-branch block and are "
                 f"captured as the block's output ({blocks} blocks, e.g. {merged[0][0]} as {merged[0][1]})")
    if left:
        text += f"; left out: {', '.join(left[:6])}{' and more' if len(left) > 6 else ''}"
    return text + " (`catsel layers MODEL` lists every layer)"

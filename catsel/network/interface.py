"""What the stages above ask of a network: one small protocol, whatever framework made the network.

The capture, the store's key, the record, lesions, receptive fields, ``visualize`` and activation
maximisation use a network only through :class:`Network`. Each source implements it
(:mod:`catsel.network.sources`): :class:`~catsel.network.keras.model.ActivationModel` for Keras networks
(TensorFlow, JAX or PyTorch underneath), :class:`~catsel.network.torch.network.TorchNetwork` for PyTorch
modules; a network of another framework is another implementation of the same protocol, and nothing above
``catsel.network`` changes. This module, and the stages above, import no deep-learning framework
(``tests/test_structure.py`` holds them to it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Protocol, Sequence, runtime_checkable

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__ = ["Network", "network_record", "rows_per_pass", "as_stored", "PASS_BYTES"]

#: A cut's passes run op by op, not compiled as the capture is: each layer's output is held until the next
#: layer's is made. A pass takes as many images as keep the largest layer output under this many bytes (VGG16
#: at 224 px: 12.8 MB an image in block 1, so 5 images; 32 images held 1.2 GB at once, issue #38).
PASS_BYTES = 64 * 2**20


@runtime_checkable
class Network(Protocol):
    """A network as catsel uses it: its units, its identity, its forward pass to packed results, and its cuts.

    Identity (what the store's key and ``run.json`` record)
        ``source``, ``weights_label``, ``trained``, ``fallback_reason``, ``image_size``, ``preprocess``,
        ``precision``, ``reduction``, ``rebuild`` (how a worker or a later command builds it again),
        ``channels``, :meth:`digest` and :meth:`describe`.
    Units
        ``layers`` (the captured layers, in network order), ``units`` (per layer), ``map_shapes`` (a conv
        layer's map, ``None`` for a dense or token layer), :meth:`layer_table` (kind, shape, units,
        receptive field), :meth:`relative_depth` and :meth:`layers_note`.
    Forward pass
        :meth:`runner` (compiled once per device set), :meth:`put` and :meth:`run` (one batch of uint8
        images to one packed buffer on the device), :meth:`fetch_soon`, :meth:`split` / :meth:`split_all`
        (the buffer to per-layer arrays on the host), :meth:`for_arrays` (the same network computing only
        some kinds of result) and ``arrays``.
    Cuts and pictures
        :meth:`cut_at` (the images to a layer's maps, and maps on to a later layer: lesions);
        :meth:`maximise_batch` (pictures of units by the gradient, :func:`catsel.network.maximise.maximise`).
    Its source's answers
        :meth:`untrained` (the same architecture re-initialised: the control), :meth:`all_layers` (every
        layer it could capture), :meth:`preprocessing_note` (what it receives, in words), :meth:`runtime`
        (framework, version, device), :meth:`on_accelerator` and :meth:`split_over` (the devices a capture splits a batch over).
    """

    source: str
    weights_label: str
    trained: bool
    fallback_reason: str | None
    image_size: int | tuple[int, int]
    preprocess: str
    precision: str
    reduction: str
    rebuild: dict | None
    layers: tuple[str, ...]
    units: dict[str, int]
    map_shapes: dict[str, tuple[int, ...] | None]
    arrays: tuple[str, ...]

    @property
    def channels(self) -> int: ...

    def digest(self) -> str: ...

    def describe(self) -> dict: ...

    def layer_table(self) -> pd.DataFrame: ...

    def relative_depth(self) -> dict[str, float]: ...

    def layers_note(self) -> str: ...

    def runner(self, devices: Any = None) -> tuple[Callable, Callable]: ...

    def put(self, images: np.ndarray) -> Any: ...

    def run(self, batch: Any) -> Any: ...

    def fetch_soon(self, out: Any) -> None: ...

    def split(self, out: Any) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]: ...

    def split_all(self, out: Any) -> dict[str, dict[str, np.ndarray]]: ...

    def for_arrays(self, arrays: Sequence[str], *, reduction: str | None = None) -> Network: ...

    def cut_at(self, layer: str, readout: str, *, batch_size: int = 32) -> tuple[Callable, Callable]: ...

    def maximise_batch(self, units: Sequence[tuple[str, int]], **options) -> list: ...

    def untrained(self, seed: int = 0) -> Network: ...

    def all_layers(self) -> pd.DataFrame: ...

    def preprocessing_note(self) -> str: ...

    def runtime(self) -> dict[str, str]: ...

    def on_accelerator(self) -> bool: ...

    def split_over(self, devices: Any) -> list[str] | None: ...


def network_record(network: Network, field: Callable[[str], dict | None], **extra) -> dict:
    """What :meth:`Network.describe` gives, in the one shape the store's ``meta.json`` and key take from every
    implementation.

    Parameters
    ----------
    network : Network
    field : callable
        A captured layer's name → its receptive field as JSON (``None``: none).
    **extra
        Keys only some networks have (a grayscale network's ``colour``, a PyTorch module's ``framework``):
        given only where they apply, so that the others' keys stay as they were.

    Returns
    -------
    dict
    """
    size = network.image_size
    return {
        "model": network.source,
        "weights": network.weights_label,
        "trained": network.trained,
        "image_size": list(size) if isinstance(size, tuple) else size,
        "preprocess": network.preprocess,
        "precision": network.precision,
        "rebuild": network.rebuild,
        "layers": [{"name": l, "units": network.units[l],
                    "map_shape": list(network.map_shapes[l]) if network.map_shapes[l] else None,
                    "receptive_field": field(l)} for l in network.layers],
        "network_digest": network.digest(),
        **extra,
    }


def rows_per_pass(largest: int, batch_size: int) -> int:
    """Images per uncompiled pass (a cut's, :meth:`Network.cut_at`): ``batch_size`` at most, fewer where one
    image's largest layer output (``largest`` bytes) would hold more than :data:`PASS_BYTES` at once.

    Parameters
    ----------
    largest : int
        Bytes of the largest output one image makes in the layers the pass runs.
    batch_size : int

    Returns
    -------
    int
        At least 1.
    """
    return max(1, min(int(batch_size), PASS_BYTES // max(int(largest), 1)))


def as_stored(maps: "np.ndarray") -> "np.ndarray":
    """A layer's output as the store keeps it: each unit's maximum over its map (a dense unit as it is).

    Parameters
    ----------
    maps : ndarray, shape (images, ..., units)

    Returns
    -------
    ndarray, shape (images, units)
    """
    return maps if maps.ndim == 2 else maps.reshape(len(maps), -1, maps.shape[-1]).max(axis=1)

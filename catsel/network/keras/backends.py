"""The Keras backend underneath: which one, which devices, and its compiled calls.

Keras 3 runs on TensorFlow, JAX or PyTorch. The few things Keras does not
offer in a backend-neutral way live here, one small function per backend:
the compiled forward pass of a capture (jit on JAX, ``tf.function``,
``no_grad`` on PyTorch), splitting a batch over several devices (Keras'
``DataParallel``, JAX only), and the gradient step of activation
maximisation.
"""

from __future__ import annotations

import contextlib
from typing import Callable, Sequence

import keras
import numpy as np

from ...errors import ModelError

__all__ = ["backend_info", "accelerators", "on_accelerator", "resolve_devices", "compile_forward", "float32_arithmetic",
           "value_and_grad", "FLOAT32_MATMUL"]

#: How a float32 network's convolutions and matrix products are computed on a GPU. ``"float32"`` (the
#: default): float32 means float32. ``"tensorfloat32"``: the TF32 tensor cores of NVIDIA's Ampere and later
#: GPUs, faster but with 10 bits of mantissa in the products. TensorFlow, JAX and PyTorch (for convolutions)
#: all default to TF32 on those GPUs; catsel does not, because eq. 1 stretches each unit's maxima to [0, 1],
#: so a small error on a unit with a small range becomes a large one in its index (docs/performance.md).
#: No effect on CPUs, or on a network built in bfloat16 or float16.
FLOAT32_MATMUL = "float32"


def backend_info() -> dict[str, str]:
    """Keras version, its backend, and the device it will run on.

    Returns
    -------
    dict
        ``keras``, ``backend`` and ``device`` (a name, informative only).
    """
    backend = keras.backend.backend()
    device = "unknown"
    try:
        if backend == "tensorflow":
            import tensorflow as tf
            gpus = tf.config.list_logical_devices("GPU")
            device = gpus[0].name if gpus else "CPU"
        elif backend == "jax":
            import jax
            device = str(jax.devices()[0])
        elif backend == "torch":
            import torch
            device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU"
    except Exception:  # device names are informative only
        pass
    return {"keras": keras.__version__, "backend": backend, "device": device}


def resolve_devices(devices: str | int | Sequence[str] | None) -> list[str] | None:
    """The devices a capture runs on, as Keras names them (``"gpu:0"``, ``"cpu:0"``).

    Splitting a batch over several devices is Keras' data parallelism
    (``keras.distribution.DataParallel``), which catsel runs on the JAX
    backend only. On TensorFlow and PyTorch, a request for more than one
    device raises :class:`~catsel.errors.ModelError`; run one capture per GPU
    there (``CUDA_VISIBLE_DEVICES=k``).

    Parameters
    ----------
    devices : None, "all", int or sequence of str
        ``None``: the backend's default device, nothing to split. ``"all"``:
        every accelerator of the machine (or the CPU when there is none). An
        integer ``n``: the first ``n`` of those. A list of names: those devices.

    Returns
    -------
    list of str or None
        The devices to split over (JAX), or ``None`` for the default device.
    """
    if devices is None:
        return None
    backend = keras.backend.backend()
    if backend == "jax":
        available = keras.distribution.list_devices()
    else:
        available = accelerators(backend)
    if isinstance(devices, str) and devices == "all":
        chosen = available
    elif isinstance(devices, (int, np.integer)) and not isinstance(devices, bool):
        if not 1 <= devices <= len(available):
            choices = "1" if len(available) == 1 else f"a number from 1 to {len(available)}"
            raise ModelError(f"devices={devices}, but this machine has {len(available)} "
                             f"({', '.join(available)}); use {choices}, or 'all'")
        chosen = available[: int(devices)]
    elif isinstance(devices, (list, tuple)) and devices and all(isinstance(d, str) for d in devices):
        unknown = [d for d in devices if d.lower() not in available]
        if unknown:
            raise ModelError(f"no device {unknown[0]!r} on this machine; it has {', '.join(available)}")
        chosen = [d.lower() for d in devices]
    else:
        raise ModelError(f"devices must be None, 'all', a number or a list of device names, not {devices!r}")
    if backend == "jax":
        return chosen
    if len(chosen) > 1:
        raise ModelError(
            f"splitting a capture over {len(chosen)} devices runs on the JAX backend only (Keras' "
            f"DataParallel); set KERAS_BACKEND=jax, or run one capture per GPU with CUDA_VISIBLE_DEVICES=k"
        )
    if chosen[0] != available[0]:
        raise ModelError(f"on {backend}, catsel runs on the default device ({available[0]}); to use "
                         f"{chosen[0]}, make it the only visible one (CUDA_VISIBLE_DEVICES={chosen[0].split(':')[-1]})")
    return None


def accelerators(backend: str) -> list[str]:
    """The devices TensorFlow or PyTorch sees, named as Keras names them on JAX.

    Parameters
    ----------
    backend : str
        ``"tensorflow"`` or ``"torch"``.

    Returns
    -------
    list of str
        ``["gpu:0", "gpu:1", ...]``, or ``["cpu:0"]`` where there is no GPU.
    """
    if backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_logical_devices("GPU")
        return [f"gpu:{i}" for i in range(len(gpus))] or ["cpu:0"]
    if backend == "torch":
        import torch

        return [f"gpu:{i}" for i in range(torch.cuda.device_count())] or ["cpu:0"]
    return ["cpu:0"]


def on_accelerator() -> bool:
    """Whether Keras computes on a GPU (or another accelerator) by default, not on the CPU.

    Returns
    -------
    bool
    """
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return jax.default_backend() != "cpu"
    return accelerators(backend)[0] != "cpu:0"


def compile_forward(model: keras.Model, devices: list[str] | None = None):
    """The model's compiled forward pass on the current backend, and how to feed it.

    jit on JAX, ``tf.function`` on TensorFlow, ``no_grad`` on PyTorch. On JAX
    with ``devices``, the weights are replicated and each batch split along its
    first axis over those devices (Keras' ``DataParallel`` layouts); on the
    other backends at most one device is named, and it is the default one.

    Parameters
    ----------
    model : keras.Model
    devices : list of str, optional
        From :func:`resolve_devices`.

    Returns
    -------
    put : callable
        Sends a uint8 batch to the device(s), asynchronously where the backend can.
    run : callable
        The compiled forward pass on a batch that ``put`` returned.
    """
    backend = keras.backend.backend()
    exact = float32_arithmetic(model)
    if backend == "jax":
        import jax

        groups = (model.trainable_variables, model.non_trainable_variables)
        jitted = jax.jit(lambda trainable, other, x: model.stateless_call(trainable, other, x, training=False)[0])

        def forward(*args):
            with exact():  # JAX's precision setting is part of what jit traces and caches under
                return jitted(*args)

        if not devices:
            # the variables' current values at each call: Keras' own jitted steps (predict, fit) donate
            # the arrays they are given, so values kept from an earlier call may have been deleted since
            return jax.device_put, lambda x: forward(*([v.value for v in group] for group in groups), x)
        from keras.distribution import DataParallel, distribute_tensor

        plan = DataParallel(devices=list(devices))
        kept: dict = {"source": None, "state": None}

        def state():
            """The weights replicated on every device, copied again only when a variable has a new value."""
            values = [v.value for group in groups for v in group]
            if kept["source"] is None or any(a is not b for a, b in zip(values, kept["source"])):
                kept["state"] = tuple([distribute_tensor(v.value, plan.get_variable_layout(v)) for v in group]
                                      for group in groups)
                kept["source"] = values
            return kept["state"]

        def put(x):
            return distribute_tensor(x, plan.get_data_layout(x.shape))

        return put, lambda x: forward(*state(), x)
    if backend == "tensorflow":
        import tensorflow as tf

        compiled = tf.function(lambda x: model(x, training=False), reduce_retracing=True)

        def forward(x):
            with exact():
                return compiled(x)

        return tf.convert_to_tensor, forward
    if backend == "torch":
        import torch

        device = next((v.value.device for v in model.weights), torch.device("cpu"))

        def run(x):
            with torch.no_grad(), exact():
                return model(x, training=False)

        return lambda x: torch.as_tensor(x).to(device, non_blocking=True), run
    return (lambda x: x), model.predict_on_batch


def float32_arithmetic(model: keras.Model):
    """A context in which a float32 network computes in float32 on a GPU, whatever the backend's default.

    Follows :data:`FLOAT32_MATMUL`. TF32 is a GPU mode: on a CPU the context
    changes nothing. A network built under a mixed-precision policy gets a
    context that does nothing either.

    Parameters
    ----------
    model : keras.Model

    Returns
    -------
    callable
        A function returning a fresh context manager at each call.
    """
    if getattr(model.dtype_policy, "compute_dtype", "float32") != "float32":
        return contextlib.nullcontext
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return lambda: jax.default_matmul_precision(FLOAT32_MATMUL)
    if backend == "tensorflow":
        import tensorflow as tf

        @contextlib.contextmanager
        def tensorflow_precision():
            before = tf.config.experimental.tensor_float_32_execution_enabled()
            tf.config.experimental.enable_tensor_float_32_execution(FLOAT32_MATMUL == "tensorfloat32")
            try:
                yield
            finally:
                tf.config.experimental.enable_tensor_float_32_execution(before)

        return tensorflow_precision
    if backend == "torch":
        import torch

        @contextlib.contextmanager
        def torch_precision():
            before = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
            tf32 = FLOAT32_MATMUL == "tensorfloat32"
            torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = tf32
            try:
                yield
            finally:
                torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = before

        return torch_precision
    return contextlib.nullcontext


def value_and_grad(fn: Callable[[list], object], has_aux: bool = False) -> Callable[[list], tuple[object, list]]:
    """A function's value and gradient on the current Keras backend.

    Keras has no backend-neutral gradient: TensorFlow's ``GradientTape``,
    ``jax.value_and_grad`` or ``torch.autograd.grad``.

    Parameters
    ----------
    fn : callable
        ``fn(params) -> scalar tensor``, ``params`` a list of tensors; with
        ``has_aux``, ``fn(params) -> (scalar tensor, aux)``.
    has_aux : bool, default False
        ``fn`` also returns a value that is not differentiated (as in
        ``jax.value_and_grad``).

    Returns
    -------
    callable
        ``g(params) -> (value, gradients)``, one gradient per parameter; with
        ``has_aux``, ``g(params) -> ((value, aux), gradients)``.
    """
    backend = keras.backend.backend()
    both = fn if has_aux else (lambda params: (fn(params), None))
    if backend == "tensorflow":
        import tensorflow as tf

        def step(params):
            with tf.GradientTape() as tape:
                for p in params:
                    tape.watch(p)
                value, aux = both(params)
            return ((value, aux) if has_aux else value), tape.gradient(value, params)

        return step
    if backend == "jax":
        import jax

        grad = jax.value_and_grad(lambda params: both(list(params)), has_aux=True)

        def step(params):
            (value, aux), grads = grad(tuple(params))
            return ((value, aux) if has_aux else value), list(grads)

        return step
    if backend == "torch":
        import torch

        def step(params):
            params = [p.detach().requires_grad_(True) for p in params]
            value, aux = both(params)
            grads = list(torch.autograd.grad(value, params))
            aux = aux.detach() if isinstance(aux, torch.Tensor) else aux
            return ((value.detach(), aux) if has_aux else value.detach()), grads

        return step
    raise NotImplementedError(f"activation maximisation has no gradient step for the {backend!r} backend")

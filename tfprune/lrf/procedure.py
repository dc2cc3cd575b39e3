"""The LRF procedure: layer by layer, one channel at a time, with fine-tuning.

Joo et al., AAAI 2021; the authors' ``main_pruning.py``
(docs/methods/lrf.md#procedure):

1. insert identity ``P``/``Q`` around every KxK conv but the stem
   (:func:`tfprune.lrf.insert_pq`), wrap the model for masking (:func:`wrap`);
2. optional "initialization fine-tuning" (CE only);
3. for each wrapped conv, from the **last to the first** (the code's order;
   whether the paper does the same is not stated,
   docs/methods/lrf.md#layer-order): remove
   ``n = min(C_out - 1, round(p C_out))`` filters one at a time with Weights
   Compensation into ``Q``, fine-tune, remove ``n_in`` input channels one at
   a time compensating into ``P``, fine-tune; the fine-tuning uses
   ``CE + KD(T=2)`` against a frozen copy of the unpruned model;
4. the caller fine-tunes further and calls :func:`tfprune.slim`, which
   returns a physically smaller plain model that keeps ``P`` and ``Q``
   (the code does not merge them, docs/methods/lrf.md#merging-p-and-q; see
   :func:`tfprune.lrf.merge_pq`).

The paper fine-tunes one epoch per step (step 3) and 20 epochs first (step
2); here the budget is the caller's (``steps_per_layer``, ``initial_steps``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import keras

from tfprune import _validation, errors
from tfprune.callbacks import UpdatePruning
from tfprune.distill import Distiller
from tfprune.lrf.surgery import insert_pq, wrapped_convs
from tfprune.methods.lrf import LinearReplaceable, lrf_count, p_name
from tfprune.pruner import Pruner
from tfprune.pruning import prune

PARTS = ("filters", "inputs")


def wrap(model_pq: keras.Model, *, round_to: int | None = None) -> keras.Model:
    """Wrap a model prepared by :func:`insert_pq` for LRF masking.

    Only the two private channel groups of each wrapped conv (its filters,
    and its input channels = ``P``'s filters) can be pruned; nothing is
    pruned by a schedule (sparsity 0), :func:`prune_layer` removes channels.

    Returns:
        A new model with :class:`tfprune.PruningWrapper` layers; train it with
        :class:`tfprune.UpdatePruning` and finish with :func:`tfprune.slim`.
    """
    convs = wrapped_convs(model_pq)
    if not convs:
        msg = (
            f"Model `{model_pq.name}` has no LRF P/Q layers. Call "
            "tfprune.lrf.insert_pq(model) first (or use tfprune.lrf.run)."
        )
        raise errors.PruningArgumentError(msg)
    sparsity = {name: 0.0 for conv in convs for name in (conv, p_name(conv))}
    return prune(model_pq, LinearReplaceable(convs), sparsity=sparsity, round_to=round_to)


def _group(pruner: Pruner, conv: str, part: str):
    producer = conv if part == "filters" else p_name(conv)
    for group in pruner.active_groups:
        if any(path.split("/")[-1] == producer for path, _, _ in pruner.group_slices(group, "filter")):
            return group
    msg = (
        f"No prunable LRF group for conv `{conv}` ({part}). Expected one of the "
        f"wrapped convs {getattr(pruner.method, 'convs', [])} of a model made by tfprune.lrf.wrap."
    )
    raise errors.PruningArgumentError(msg)


def prune_layer(model: keras.Model, conv: str, ratio: float = 0.5, part: str = "filters") -> list[dict[str, Any]]:
    """Remove ``part`` channels of ``conv`` one at a time, with compensation.

    Removes channels until ``min(C - 1, round(ratio * C))`` of the group's
    ``C`` are gone (counting earlier removals; with the model's ``round_to``
    the kept count is rounded), updating ``Q`` (filters) or ``P`` (inputs)
    and the masks in place.

    Args:
        model: a model returned by :func:`wrap` (or :func:`run`).
        conv: name of a wrapped conv.
        ratio: fraction of the channels to remove.
        part: ``"filters"`` (output channels of ``conv``) or ``"inputs"``.

    Returns:
        One record per removal: ``{"unit", "score", "residual"}``.
    """
    if part not in PARTS:
        msg = f"Argument `part` must be one of {PARTS}. Received: part={part!r}."
        raise errors.PruningArgumentError(msg)
    ratio = _validation.check_fraction("ratio", ratio)
    pruner = Pruner(model)
    if not isinstance(pruner.method, LinearReplaceable):
        msg = (
            f"Model `{model.name}` is wrapped for {type(pruner.method).__name__}, "
            "not LRF. Prepare it with tfprune.lrf.wrap(tfprune.lrf.insert_pq(model))."
        )
        raise errors.PruningArgumentError(msg)
    group = _group(pruner, conv, part)
    target = lrf_count(group.num_channels, ratio, pruner.round_to)
    done = int((~pruner.group_keep(group)).sum())
    removed = pruner.method.remove(pruner.view, group, max(0, target - done))
    pruner.write_masks()
    return removed


def _default_optimizer() -> keras.optimizers.Optimizer:
    # docs/methods/lrf.md#hyper-parameters: SGD, lr 1e-3, momentum 0.9, weight decay 1e-4.
    return keras.optimizers.SGD(1e-3, momentum=0.9, weight_decay=1e-4)


def finetune(
    model: keras.Model,
    dataset: Any,
    steps: int,
    *,
    teacher: keras.Model | Distiller | None = None,
    optimizer: Any = None,
    loss: Any = None,
    temperature: float = 2.0,
    callbacks: Iterable[keras.callbacks.Callback] = (),
    verbose: int = 0,
) -> None:
    """Fine-tune a wrapped model for ``steps`` batches (``CE [+ KD]``).

    Args:
        model: the wrapped model (trained in place).
        dataset: a batched ``tf.data.Dataset`` of ``(x, y)`` (repeated here).
        steps: number of training steps.
        teacher: ``None`` (CE only), a model to distill from (a frozen copy is
            made), or a :class:`tfprune.Distiller` of ``model`` to reuse.
        optimizer: an optimizer, or a callable returning one (called now);
            default SGD(1e-3, momentum 0.9, weight decay 1e-4) as in the paper.
        loss: default ``SparseCategoricalCrossentropy(from_logits=True)``.
        temperature: KD temperature.
        callbacks: extra Keras callbacks for this ``fit`` (e.g. TensorBoard);
            :class:`tfprune.UpdatePruning` is always added.
    """
    steps = _validation.check_positive_int("steps", steps)
    if optimizer is None:
        optimizer = _default_optimizer()
    elif callable(optimizer) and not isinstance(optimizer, keras.optimizers.Optimizer):
        optimizer = optimizer()
    loss = loss or keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    if isinstance(teacher, Distiller):
        trainer = teacher
    elif teacher is not None:
        trainer = Distiller(model, teacher, temperature=temperature)
    else:
        trainer = model
    trainer.compile(optimizer=optimizer, loss=loss, metrics=["accuracy"])
    trainer.fit(dataset.repeat(), epochs=1, steps_per_epoch=steps, verbose=verbose,
                callbacks=[*callbacks, UpdatePruning()])


def run(
    model: keras.Model,
    dataset: Any,
    *,
    ratio: float = 0.5,
    steps_per_layer: int = 100,
    initial_steps: int = 0,
    distill: bool = True,
    temperature: float = 2.0,
    optimizer: Callable[[], keras.optimizers.Optimizer] | None = None,
    loss: Any = None,
    convs: Iterable[str] | None = None,
    round_to: int | None = None,
    callbacks: Iterable[keras.callbacks.Callback] = (),
    verbose: int = 0,
) -> keras.Model:
    """Prune ``model`` with LRF; return the masked model (``slim`` it next).

    Args:
        model: a trained Functional/Sequential classifier returning logits
            (not modified).
        dataset: batched ``tf.data.Dataset`` of ``(x, y)`` for fine-tuning.
        ratio: ``p``, the fraction of filters *and* input channels removed
            from every wrapped conv (0.5 in the paper; "LRF-60" is 0.6).
        steps_per_layer: fine-tuning steps after each removal phase (two per
            conv: after its filters and after its inputs). The paper uses one
            epoch; 0 skips fine-tuning.
        initial_steps: CE-only fine-tuning after inserting P/Q (paper: 20
            epochs).
        distill: add the KD term against the unpruned model (T=2).
        temperature: KD temperature.
        optimizer: a callable returning a fresh optimizer for each phase
            (default: SGD 1e-3, momentum 0.9, weight decay 1e-4).
        loss: the task loss (default sparse CE on logits).
        convs: convs to wrap (default every KxK conv but the stem).
        round_to: keep channel counts at multiples of this.
        callbacks: extra Keras callbacks passed to every fine-tuning ``fit``
            (e.g. TensorBoard, or a timer); the same objects are reused.
        verbose: 1 prints each phase; also passed to ``fit``.

    Returns:
        The wrapped model with ``P``/``Q`` and masks; ``tfprune.slim(result)``
        is the physically smaller plain model (``P``/``Q`` kept and counted in
        ``tfprune.count_flops``). Compile it before training it further
        (with :class:`tfprune.UpdatePruning`).
    """
    ratio = _validation.check_fraction("ratio", ratio)
    if steps_per_layer != 0:
        _validation.check_positive_int("steps_per_layer", steps_per_layer)
    pruned = wrap(insert_pq(model, convs), round_to=round_to)
    kwargs = {"optimizer": optimizer, "loss": loss, "callbacks": tuple(callbacks), "verbose": max(0, verbose - 1)}
    if initial_steps:
        if verbose:
            print(f"lrf: initial fine-tuning, {initial_steps} steps (CE only)")
        finetune(pruned, dataset, initial_steps, **kwargs)
    teacher = Distiller(pruned, model, temperature=temperature) if distill else None
    for conv in reversed(wrapped_convs_in_order(pruned)):
        for part in PARTS:
            removed = prune_layer(pruned, conv, ratio, part)
            if verbose:
                print(f"lrf: {conv}: removed {len(removed)} {part}")
            if steps_per_layer:
                finetune(pruned, dataset, steps_per_layer, teacher=teacher, **kwargs)
    return pruned


def wrapped_convs_in_order(model: keras.Model) -> list[str]:
    """The wrapped convs of ``model`` in model (topological) order."""
    from tfprune.graph import trace_model

    convs = set(wrapped_convs(model))
    order = []
    for site in trace_model(model).sites:
        name = getattr(site.layer, "name", None)
        if name in convs and name not in order:
            order.append(name)
    return order

"""Exceptions raised by tfprune.

Every error subclasses both :class:`TfpruneError` and the standard exception a
user would expect (``ValueError``, ``TypeError``, ``RuntimeError``), so
existing ``except ValueError`` code keeps working. Messages say what is wrong,
what was expected, what was received and how to fix it.
"""

from __future__ import annotations


class TfpruneError(Exception):
    """Base class of every error raised by tfprune."""


class UnsupportedLayerError(TfpruneError, ValueError):
    """A layer has no channel rule, or is used in a way the rule cannot trace."""


class UnsupportedModelError(TfpruneError, ValueError):
    """The model cannot be traced (e.g. a subclassed model)."""


class PruningArgumentError(TfpruneError, ValueError):
    """An argument of a public tfprune function is invalid."""


class MissingCallbackError(TfpruneError, RuntimeError):
    """A pruned model was trained without the ``UpdatePruning`` callback."""


class ExportError(TfpruneError, RuntimeError):
    """A model could not be exported (e.g. it needs non-builtin TFLite ops)."""


class BudgetError(PruningArgumentError):
    """A pruning target (FLOPs or parameters) cannot be met.

    Attributes:
        requested: the requested budget (absolute count).
        reachable: the nearest costs that can be reached, as
            ``(below, above)`` (either may be None), and the minimum under
            the constraints (``round_to``, floors, exclusions).
    """

    def __init__(self, message: str, *, requested=None, reachable=None):
        super().__init__(message)
        self.requested = requested
        self.reachable = reachable


class RoundingWarning(UserWarning):
    """``round_to`` keeps a group whole although a sparsity was asked for it."""


class BudgetWarning(UserWarning):
    """Inside ``fit``, the constraints left the model off its pruning target."""

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


class NonFiniteWeightsError(TfpruneError, FloatingPointError):
    """A weight became NaN or infinite during pruning (training diverged).

    Raised when the channels are about to be ranked: a NaN score sorts
    anywhere, so the channels removed would be arbitrary.
    """


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


class LatencyTableWarning(UserWarning):
    """Layer timings that cannot be right: a narrower width ran slower than a wider one."""


class BudgetWarning(UserWarning):
    """Inside ``fit``, the constraints left the model off its pruning target; or the models ``prune`` timed
    for a latency target kept disagreeing with the latency table."""


class WriteError(ExportError, OSError):
    """A file could not be written (full disk, no permission, missing directory).

    tfprune writes every file atomically, so when this is raised no partial
    file is left behind and a file that was being replaced is unchanged.
    ``errno`` and ``filename`` are those of the underlying ``OSError``.
    """

    def __str__(self) -> str:  # OSError's would show errno/filename only
        return str(self.args[0]) if self.args else ""


def write_error(what: str, path: object, exc: OSError) -> WriteError:
    """A :class:`WriteError` for ``exc``, raised while writing ``what``.

    Args:
        what: the file(s), as the message shows them, e.g.
            ``"the plan '/tmp/plan.json'"``.
        path: the destination, stored as ``filename``.
        exc: the underlying OSError.
    """
    error = WriteError(
        f"Could not write {what}: {exc.strerror or exc}. Nothing was written "
        "(an existing file there is unchanged). Check that the directory "
        "exists and is writable and that the disk has free space, then try "
        "again."
    )
    error.errno, error.filename = exc.errno, str(path)
    return error

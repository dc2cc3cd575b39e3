"""Exceptions raised by :mod:`tfprune.data`.

Both subclass :class:`tfprune.errors.TfpruneError` and the standard exception
a caller would expect, so ``except FileNotFoundError`` / ``except ValueError``
keep working.
"""

from __future__ import annotations

from tfprune import errors


class DatasetNotFoundError(errors.TfpruneError, FileNotFoundError):
    """The data set is not on disk and could not (or may not) be fetched."""


class DataIntegrityError(errors.TfpruneError, ValueError):
    """A downloaded or cached data file does not have the expected content."""


class DatasetExistsError(errors.TfpruneError, FileExistsError):
    """A dataset would be written over an existing one."""

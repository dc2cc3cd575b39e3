"""A pickle loader that can rebuild numpy arrays and nothing else.

Third-party data files such as the classic ``mnist.pkl.gz`` are pickles. A
plain :func:`pickle.load` runs whatever callable the file names, so it must
never see a file we did not write. :class:`NumpyOnlyUnpickler` resolves only
the globals that numpy needs to rebuild an ``ndarray`` and refuses every
other one with :class:`pickle.UnpicklingError` before it can be called.

Old pickles (numpy 1.x, python 2 era) name ``numpy.core.multiarray``; numpy 2
renamed that module to ``numpy._core`` and warns when the old name is
imported. Both spellings are mapped directly onto the functions of the numpy
that is installed, so no module is imported by name from the file.
"""

from __future__ import annotations

import importlib
import io
import pickle
from typing import Any, BinaryIO

import numpy as np


def _numpy_private(submodule: str, name: str) -> Any:
    """Return ``numpy._core.<submodule>.<name>`` (numpy 2) or numpy 1's."""
    for package in ("numpy._core", "numpy.core"):
        try:
            module = importlib.import_module(f"{package}.{submodule}")
        except ImportError:
            continue
        return getattr(module, name)
    msg = f"numpy provides no {submodule}.{name}"  # pragma: no cover
    raise ImportError(msg)  # pragma: no cover


def _latin1_encode(text: str, encoding: str = "latin1") -> bytes:
    """Stand-in for ``_codecs.encode`` that only does what pickle uses it for.

    Python 3 writes ``bytes`` at pickle protocols 0-2 as
    ``_codecs.encode(text, "latin1")``; any other codec is refused.
    """
    if encoding not in ("latin1", "latin-1") or not isinstance(text, str):
        msg = (
            "Refused `_codecs.encode` with encoding "
            f"{encoding!r}: only 'latin1' (pickled bytes) is accepted."
        )
        raise pickle.UnpicklingError(msg)
    return text.encode("latin1")


_RECONSTRUCT = _numpy_private("multiarray", "_reconstruct")
_FROMBUFFER = _numpy_private("numeric", "_frombuffer")

_ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    # ndarray.__reduce__ (protocols 0-4); old pickles spell numpy.core.
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
    # ndarray.__reduce_ex__(5): the array buffer travels as a PickleBuffer.
    ("numpy.core.numeric", "_frombuffer"): _FROMBUFFER,
    ("numpy._core.numeric", "_frombuffer"): _FROMBUFFER,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    # How python 3 pickles bytes at protocols 0-2 (latin1 only, see above).
    ("_codecs", "encode"): _latin1_encode,
}


class NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickler whose ``find_class`` allows only numpy's array rebuilders.

    Allowed globals: ``numpy.core.multiarray._reconstruct`` and
    ``numpy._core.multiarray._reconstruct`` (what ``ndarray`` pickles name at
    protocols 0-4), ``numpy.core.numeric._frombuffer`` and
    ``numpy._core.numeric._frombuffer`` (protocol 5), all mapped to the
    installed numpy's functions; ``numpy.ndarray``; ``numpy.dtype``; and
    ``_codecs.encode`` restricted to latin1, which is how python 3 writes
    ``bytes`` at protocol 2. Containers (tuples, lists, dicts), numbers,
    strings and bytes need no global and load as usual. An array of python
    objects (``dtype=object``) loads only if its items need no other global.
    Any other global raises :class:`pickle.UnpicklingError` naming it;
    nothing named by the file is imported or called.
    """

    def find_class(self, module: str, name: str) -> Any:
        """Return an allowed global or raise ``pickle.UnpicklingError``."""
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            allowed = ", ".join(f"{m}.{n}" for m, n in _ALLOWED_GLOBALS)
            msg = (
                f"Refused to load global `{module}.{name}` from a pickle: only "
                f"numpy array data is accepted ({allowed}). The file is not a "
                "plain numpy data pickle; do not load it with pickle.load."
            )
            raise pickle.UnpicklingError(msg) from None


def load(file: BinaryIO, *, encoding: str = "latin1") -> Any:
    """Load one pickled object from ``file`` with :class:`NumpyOnlyUnpickler`.

    Args:
        file: A binary file object positioned at the start of a pickle.
        encoding: How to decode python 2 ``str`` objects. ``"latin1"`` is the
            one that keeps numpy's array buffers byte-exact.

    Returns:
        The unpickled object.

    Raises:
        pickle.UnpicklingError: The pickle names a global outside the allowed
            numpy set.
    """
    return NumpyOnlyUnpickler(file, encoding=encoding).load()


def loads(data: bytes, *, encoding: str = "latin1") -> Any:
    """Like :func:`load`, from bytes."""
    return load(io.BytesIO(data), encoding=encoding)

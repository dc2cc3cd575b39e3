"""Helpers of the bad-input catalogue tests (docs/errors.md).

Every entry of docs/errors.md has an id (its ``### `id` `` heading), the error
class (``**Error:** `Name` ``) and the message (the first ``text`` block after
the heading). The ``expect`` fixture checks an actual error against its entry:
same class, and the message matches the documented one, where ``...`` stands
for any text and ``<tmp>`` for the test's temporary directory.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import keras
from keras import layers

DOC = Path(__file__).resolve().parents[1] / "docs" / "errors.md"
_HEADING = re.compile(r"^### `([a-z0-9-]+)`", re.MULTILINE)


def catalogue() -> dict[str, dict[str, str]]:
    """``{entry id: {"error": class name, "message": pattern}}`` of docs/errors.md."""
    text = DOC.read_text(encoding="utf-8")
    matches = list(_HEADING.finditer(text))
    entries = {}
    for match, following in zip(matches, [*matches[1:], None], strict=True):
        body = text[match.end() : following.start() if following else len(text)]
        error = re.search(r"\*\*Error:\*\* `([\w.]+)`", body)
        message = re.search(r"```text\n(.*?)\n```", body, re.DOTALL)
        entries[match.group(1)] = {
            "error": error.group(1) if error else "",
            "message": message.group(1) if message else "",
        }
    return entries


def matches(pattern: str, actual: str) -> bool:
    parts = [re.escape(p) for p in pattern.split("...")]
    return re.fullmatch(".*?".join(parts), actual, re.DOTALL) is not None


def listing(path: Path) -> list[str]:
    """Names in a directory, hidden temporary files included."""
    return sorted(os.listdir(path))


def tiny_cnn(name: str = "tiny") -> keras.Model:
    """Conv(8) -> ReLU -> Conv(8) -> GAP -> Dense(3): two prunable groups with round_to=None."""
    keras.utils.set_random_seed(0)
    x = keras.Input((6, 6, 2), name="image")
    y = layers.Conv2D(8, 3, padding="same", name="conv1")(x)
    y = layers.ReLU(name="relu")(y)
    y = layers.Conv2D(8, 3, padding="same", name="conv2")(y)
    y = layers.GlobalAveragePooling2D(name="gap")(y)
    return keras.Model(x, layers.Dense(3, name="head")(y), name=name)

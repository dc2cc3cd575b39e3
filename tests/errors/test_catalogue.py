"""docs/errors.md and tests/errors stay in sync: one test per entry."""

from __future__ import annotations

import re
from pathlib import Path

from errors_catalogue import catalogue, matches


def _tests() -> dict[str, set[str]]:
    """``{test function name: entry ids it passes to expect()}``."""
    found: dict[str, set[str]] = {}
    for path in Path(__file__).parent.glob("test_*.py"):
        for block in re.split(r"\n(?=def test_)", path.read_text(encoding="utf-8")):
            name = re.match(r"def (test_\w+)", block)
            if name:
                found[name.group(1)] = set(re.findall(r'expect\(\s*"([a-z0-9-]+)"', block))
    return found


def test_every_entry_has_its_test_and_every_test_its_entry():
    entries = catalogue()
    tests = _tests()
    assert len(entries) >= 30
    for entry_id, entry in entries.items():
        assert entry["error"] and entry["message"], f"`{entry_id}` lacks **Error:** or its message"
        name = "test_" + entry_id.replace("-", "_")
        assert name in tests, f"docs/errors.md entry `{entry_id}` has no test {name}"
        assert entry_id in tests[name], f"{name} never checks the message of `{entry_id}`"
    checked = set().union(*tests.values())
    assert checked <= set(entries), f"tests check entries missing from docs/errors.md: {checked - set(entries)}"


def test_patterns():
    assert matches("a ... c", "a b c")
    assert matches("x...", "x") and not matches("a ... c", "a b d")
    assert not matches("(1)", "1")  # the rest is literal text

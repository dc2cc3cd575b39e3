"""Notes kept with a results file across the calls that add to it (``budget.py``, ``compare.py``).

A note explains a result (why a combination missed, what load a session ran
at). A later run can make a sentence of it stale; ``--replace-note OLD NEW``
corrects it in place instead of appending a contradiction.
"""

from __future__ import annotations


def replace_notes(notes: list[str], replacements: list[tuple[str, str]], where: str) -> list[str]:
    """``notes`` with each ``(old, new)`` text replaced; a note left empty is dropped.

    ``where`` names the results file in the error raised when ``old`` is in no note.
    """
    for old, new in replacements:
        if not any(old in note for note in notes):
            raise SystemExit(f"--replace-note: {old!r} is in none of the {len(notes)} notes of {where}; copy the "
                             "text to replace from the notes the report shows.")
        notes = [" ".join(note.replace(old, new).split()) for note in notes]
    return [note for note in notes if note]

"""The hex dumps of docs/protocol.md, read as the document gives them: the document is the source of truth."""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"


def hex_blocks(heading: str) -> dict[str, bytes]:
    """Every hex block of the section under ``heading`` (up to the next section), by the label (`name.part`) on
    the line before it; each line of 16 lower-case bytes but the last."""
    text = DOC.read_text(encoding="utf-8")
    section = text[text.index(heading) :]
    following = section.find("\n## ", len(heading))
    section = section if following < 0 else section[:following]
    blocks: dict[str, bytes] = {}
    for label, dump in re.findall(r"^`([a-z-]+\.[a-z]+)`[^\n]*\n\n```\n(.*?)```", section, re.MULTILINE | re.DOTALL):
        lines = dump.splitlines()
        assert all(re.fullmatch(r"[0-9a-f]{2}( [0-9a-f]{2}){0,15}", line) for line in lines), label
        assert all(len(line.split()) == 16 for line in lines[:-1]), label
        assert label not in blocks, label
        blocks[label] = bytes.fromhex(" ".join(lines))
    return blocks

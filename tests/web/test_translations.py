"""Every message of the pages has its Chinese translation: those written in the templates, and those marked with
``N_`` in the pages' modules (notices after a form, labels chosen at run time)."""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_dir

from api.i18n import PAGES, translations

ROOT = Path(__file__).resolve().parents[2]


def messages() -> dict[str, str]:
    """Each message id with where it was found first."""
    found: dict[str, str] = {}
    templates = extract_from_dir(
        str(PAGES),
        method_map=[("**.html", "jinja2")],
        options_map={"**.html": {"extensions": "jinja2.ext.i18n"}},
    )
    code = extract_from_dir(str(ROOT / "api" / "pages"), method_map=[("**.py", "python")], keywords={"N_": None})
    for where, (filename, line, message, _, _) in [("templates/web", t) for t in templates] + [
        ("api/pages", c) for c in code
    ]:
        for msgid in message if isinstance(message, tuple) else (message,):
            found.setdefault(msgid, f"{where}/{filename}:{line}")
    return found


def test_the_pages_have_messages() -> None:
    assert len(messages()) > 50


def test_every_message_has_a_chinese_translation() -> None:
    chinese = translations("zh_CN")
    missing = [f"{where}: {msgid!r}" for msgid, where in sorted(messages().items()) if chinese.gettext(msgid) == msgid]
    assert missing == []

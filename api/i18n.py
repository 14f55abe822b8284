"""The web pages' language: Chinese (zh_CN) by default, English on request (``?lang=en`` or Accept-Language).

Messages are English in the templates and translated with Babel from the catalogues in
``locales/<lang>/LC_MESSAGES/`` (one per part of the application, merged), compiled in memory at first use so
that no build step stands between an edited catalogue and the pages.
"""

from __future__ import annotations

import datetime as dt
import functools
import io
from pathlib import Path
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.requests import Request

LOCALES = Path(__file__).resolve().parent.parent / "locales"
PAGES = Path(__file__).resolve().parent.parent / "templates" / "web"
LANGUAGES = ("zh_CN", "en")
DEFAULT = "zh_CN"
LANGUAGE_COOKIE = "sg_lang"
CHINA = ZoneInfo("Asia/Shanghai")


def language(request: Request) -> str:
    """``?lang=`` first, then the language chosen before (a cookie), then the browser's Accept-Language, then
    Chinese."""
    asked = request.query_params.get("lang") or request.cookies.get(LANGUAGE_COOKIE)
    if asked:
        return _supported(asked) or DEFAULT
    header = request.headers.get("accept-language", "")
    for part in header.split(","):
        found = _supported(part.split(";")[0].strip()) if part.strip() else None
        if found is not None:
            return found
    return DEFAULT


def _supported(asked: str) -> str | None:
    try:
        locale = Locale.parse(asked.replace("-", "_"))
    except (ValueError, UnknownLocaleError):
        return None
    return next((lang for lang in LANGUAGES if Locale.parse(lang).language == locale.language), None)


@functools.cache
def translations(lang: str) -> NullTranslations:
    if lang == "en":
        return NullTranslations()  # English: the templates' own words
    paths = sorted((LOCALES / lang / "LC_MESSAGES").glob("*.po"))
    if not paths:  # an install without its catalogues must not quietly show English pages
        raise FileNotFoundError(f"no {lang} catalogues (*.po) in {LOCALES / lang / 'LC_MESSAGES'}")
    merged: Translations | None = None
    for path in paths:
        with path.open("rb") as f:
            catalog = read_po(f, locale=lang)
        compiled = io.BytesIO()
        write_mo(compiled, catalog)
        compiled.seek(0)
        part = Translations(compiled)
        if merged is None:
            merged = part
        else:
            merged.merge(part)
    assert merged is not None
    return merged


@functools.cache
def pages(lang: str) -> Environment:
    """One environment per language: gettext is installed on the environment, so they are not shared."""
    env = Environment(
        loader=FileSystemLoader(PAGES),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        extensions=["jinja2.ext.i18n"],
    )
    env.install_gettext_translations(translations(lang), newstyle=True)  # type: ignore[attr-defined]
    env.globals["lang"] = lang
    env.filters["cst"] = local_time
    return env


def local_time(value: dt.datetime | str | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """Times are shown in China Standard Time, whatever the server's zone."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(CHINA).strftime(fmt)

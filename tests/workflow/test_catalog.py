"""Checking a catalogue before it is loaded: a matter's document template is a plain file of templates/documents."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.workflow.conftest import CATALOG, matter
from workflow import catalogs
from workflow.catalog import TEMPLATES


def with_template(name: str) -> dict[str, Any]:
    data = copy.deepcopy(CATALOG)
    data["matters"].append(matter("test.letter", "standard", template=name))
    return data


def test_a_template_of_templates_documents_is_accepted() -> None:
    assert (TEMPLATES / "introduction_letter.html").is_file()
    letter = catalogs.check(with_template("introduction_letter.html")).matter("test.letter")
    assert letter is not None
    assert letter.template == "introduction_letter.html"


@pytest.mark.parametrize(
    "name",
    [
        "/etc/passwd",
        str(TEMPLATES / "introduction_letter.html"),  # absolute, even inside the directory
        "../documents/introduction_letter.html",
        "../../pyproject.toml",
        "..",
        "web/login.html",
        "sub\\introduction_letter.html",
        "",
    ],
)
def test_a_template_that_is_not_a_plain_file_name_is_refused(name: str) -> None:
    with pytest.raises(catalogs.InvalidCatalog) as refused:
        catalogs.check(with_template(name))
    assert "matter test.letter" in refused.value.detail
    assert "plain file name" in refused.value.detail


def test_a_template_that_does_not_exist_is_refused() -> None:
    with pytest.raises(catalogs.InvalidCatalog) as refused:
        catalogs.check(with_template("no_such_letter.html"))
    assert "matter test.letter" in refused.value.detail
    assert "no document template 'no_such_letter.html'" in refused.value.detail

"""Forms as others see them: personal numbers masked by their field's format, not by where they came from."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.workflow.conftest import Village, login, matter
from tests.workflow.test_review import submit
from workflow import catalogs, forms
from workflow.catalog import Matter
from workflow.personal import Personal, format_of

PHONE = "13812345678"
ACCOUNT = "6228480012345678901"
WORKER_ID = "460204197803121222"
CONTACT_FORM: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "title": "姓名", "x-profile": "name"},
        "address": {"type": "string", "title": "住址", "minLength": 2},
        "phone": {"type": "string", "title": "联系电话", "pattern": r"^1[3-9]\d{9}$"},
        "bank_account": {"type": "string", "title": "补贴发放银行账号", "pattern": r"^\d{12,30}$"},
        "payee": {"type": "string", "title": "收款人", "format": "bank-account"},
        "worker_id": {"type": "string", "title": "受聘人员公民身份号码"},
        "helpers": {
            "type": "array",
            "items": {"type": "object", "properties": {"mobile": {"type": "string", "title": "手机"}}},
        },
    },
    "required": ["name", "address", "phone", "bank_account"],
    "additionalProperties": False,
}


def contact_matter() -> Matter:
    return Matter.model_validate(matter("test.contact", "standard", CONTACT_FORM))


def test_fields_are_known_by_format_profile_name_or_title() -> None:
    props = CONTACT_FORM["properties"]
    assert format_of("phone", props["phone"]) is Personal.PHONE
    assert format_of("bank_account", props["bank_account"]) is Personal.BANK_ACCOUNT
    assert format_of("payee", props["payee"]) is Personal.BANK_ACCOUNT  # declared by format only
    assert format_of("worker_id", props["worker_id"]) is Personal.ID_NUMBER  # by its title only
    assert format_of("contact", {"type": "string", "title": "联系人手机"}) is Personal.PHONE
    assert format_of("ssn", {"type": "string", "title": "x", "x-profile": "ssn"}) is Personal.SSN
    assert format_of("address", props["address"]) is None
    assert format_of("account_kind", {"type": "string", "title": "账户性质"}) is None


def test_phone_and_bank_account_that_no_profile_fills_are_masked() -> None:
    shown = forms.masked(
        contact_matter(),
        {
            "name": "符阿妹",
            "address": "水南村一组 12 号",
            "phone": PHONE,
            "bank_account": ACCOUNT,
            "payee": "12345678",
            "worker_id": WORKER_ID,
            "helpers": [{"mobile": "13900001111"}],
        },
        names=False,
    )
    assert shown == {
        "name": "符阿妹",
        "address": "水南村一组 12 号",
        "phone": "138****5678",
        "bank_account": "*" * 15 + "8901",
        "payee": "****5678",
        "worker_id": "4602**********1222",
        "helpers": [{"mobile": "139****1111"}],
    }


def test_every_personal_field_of_the_shipped_catalogue_is_masked() -> None:
    catalog = catalogs.check(catalogs.read(catalogs.SHIPPED))
    winter = catalog.matter("agri.winter-vegetable-subsidy")
    assert winter is not None
    values = {"phone": PHONE, "bank_account": ACCOUNT, "ssn": "H7803121222", "id_number": WORKER_ID, "crop": "辣椒"}
    shown = forms.masked(winter, values, names=False)
    assert shown == {
        "phone": "138****5678",
        "bank_account": "*" * 15 + "8901",
        "ssn": "H780***1222",
        "id_number": "4602**********1222",
        "crop": "辣椒",
    }


def test_approvers_see_a_typed_phone_and_bank_account_masked(client: TestClient, village: Village) -> None:
    rt = village.runtime
    with rt.sessions() as s:
        catalogs.put_matter(s, matter("test.contact", "standard", CONTACT_FORM), actor="test", now=rt.clock.now())
        s.commit()
    form = {"address": "水南村一组 12 号", "phone": PHONE, "bank_account": ACCOUNT}
    created = submit(client, matter="test.contact", form=form)
    assert created.status_code == 201, created.text
    rid = created.json()["id"]
    own = client.get(f"/api/v1/requests/{rid}", headers=login(client, "resident")).json()["form"]
    assert (own["phone"], own["bank_account"]) == (PHONE, ACCOUNT)
    seen = client.get(f"/api/v1/requests/{rid}", headers=login(client, "leader"))
    assert seen.status_code == 200, seen.text
    assert seen.json()["form"]["phone"] == "138****5678"
    assert seen.json()["form"]["bank_account"] == "*" * 15 + "8901"
    assert PHONE not in seen.text
    assert ACCOUNT not in seen.text

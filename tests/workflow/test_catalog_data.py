"""The shipped matters catalogue (workflow/data/catalog.yaml) and its document templates.

These check the data, not the loader: the seeds' matters are there with the right legal class, every form is a
schema a villager can fill in Chinese, computed subsidies come out of the matter's own tables, every template renders
a document with the values and one seal anchor, and every refusal on the negative list cites its rule.
"""

from __future__ import annotations

import ast
import re
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import jinja2
import pytest
import simpleeval
import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from markupsafe import escape

from identity.posts import Post
from identity.uscc import check_character
from workflow.catalog import Catalog, Matter, Mode, Scope, SealForm, UseClass, parse

ROOT = Path(__file__).resolve().parents[2]
CATALOG = ROOT / "workflow" / "data" / "catalog.yaml"
TEMPLATES = ROOT / "templates" / "documents"
FUNCTIONS = {"round": round, "min": min, "max": max, "abs": abs}
CHINESE = re.compile(r"[\u4e00-\u9fff]")
SEAL_ANCHOR = "（盖章）"
TODAY = "2026年11月22日"
PROFILE_SOURCES = {"name", "id_number", "ssn"}
ID_PATTERN = r"^[1-9]\d{5}(18|19|20)\d{2}(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])\d{3}[\dX]$"


def id_number(first17: str) -> str:
    """A resident ID number with its GB 11643 check character."""
    total = sum(int(d) * pow(2, 17 - i, 11) for i, d in enumerate(first17))
    return first17 + "10X98765432"[total % 11]


def uscc(first17: str) -> str:
    return first17 + check_character(first17)


LI = id_number("46020019880312451")  # 黎英俊, 崖州区
WEI = id_number("46020019620705122")
CHEN = id_number("46020019950101003")
FU = id_number("46020020150620442")
CONTRACTOR = uscc("91460200MA5T00001")

SEED_MATTERS: dict[str, UseClass] = {
    "agri.winter-vegetable-subsidy": UseClass.ASSISTING,
    "agri.mulch-film-subsidy": UseClass.ASSISTING,
    "civil-affairs.death-certificate": UseClass.ASSISTING,
    "collective.land-contract": UseClass.COLLECTIVE,
    "residence.certificate": UseClass.ASSISTING,
}

# Sample forms as an applicant submits them (computed fields left out): for every matter that computes
# something or has a document template, and for the seeds.
SAMPLES: dict[str, dict[str, Any]] = {
    "agri.winter-vegetable-subsidy": {
        "applicant": "黎英俊",
        "id_number": LI,
        "ssn": LI,
        "phone": "13876543210",
        "crop": "辣椒",
        "cycles": 2,
        "area": 3.5,
        "location": "水南村三组南边洋",
    },
    "agri.mulch-film-subsidy": {
        "applicant": "韦迪忠",
        "id_number": WEI,
        "ssn": "A46020000000123",
        "phone": "0898-88881234",
        "year": 2025,
        "film_type": "加厚高强度地膜",
        "crop": "豇豆",
        "area": 12.5,
        "bank_account": "6228480000123456789",
    },
    "civil-affairs.death-certificate": {
        "deceased": "黎亚光",
        "deceased_id": id_number("46020019360208451"),
        "gender": "男",
        "death_date": "2026-11-18",
        "death_place": "水南村四组家中",
        "category": "衰老死亡",
        "applicant": "黎英俊",
        "applicant_id": LI,
        "relation": "子女",
    },
    "collective.land-contract": {
        "contract_type": "家庭承包",
        "contractor": "黎英俊",
        "contractor_id": LI,
        "parcel": "南边洋地块，东至水渠，西至机耕路，南至黎某地，北至防风林",
        "parcel_code": "4602030011020300012",
        "land_use": "种植业",
        "area": 4.2,
        "years": 30,
        "start_date": "2028-01-01",
        "fee": 80,
    },
    "residence.certificate": {
        "applicant": "陈晓东",
        "id_number": CHEN,
        "address": "水南村二组15号",
        "since": "2024-03-01",
        "housing": "租住房屋",
        "purpose": "子女入学",
        "phone": "13907551234",
    },
    "civil.labour-agreement": {
        "worker": "符玉兰",
        "worker_id": WEI,
        "post": "保洁员",
        "monthly_pay": 1800,
        "months": 12,
        "start_date": "2027-01-01",
    },
    "civil.service-contract": {
        "provider": "三亚崖州某环境服务有限公司",
        "provider_uscc": CONTRACTOR,
        "service": "生活垃圾清运",
        "annual_fee": 86000,
        "years": 2,
        "start_date": "2027-01-01",
    },
    "civil.introduction-letter": {
        "bearers": "邢雄荣（村委会主任）",
        "to": "崖州区不动产登记中心",
        "business": "查询村集体土地所有权登记资料",
        "valid_days": 7,
    },
    "collective.land-transfer-filing": {
        "transferor": "黎英俊",
        "transferor_id": LI,
        "transferee": "三亚某南繁种业有限公司",
        "transferee_code": CONTRACTOR,
        "mode": "出租（转包）",
        "area": 20,
        "years": 5,
        "rent": 1200,
        "start_date": "2027-01-01",
    },
    "collective.asset-lease": {
        "lessee": "陈晓东",
        "lessee_code": CHEN,
        "asset": "村委会旧办公楼一楼铺面（水南村主街3号）",
        "floor_area": 86.5,
        "method": "公开竞价",
        "annual_rent": 24000,
        "years": 5,
        "start_date": "2027-01-01",
    },
    "collective.income-distribution": {
        "year": 2026,
        "net_income": 1250000,
        "reserve_pct": 30,
        "shares": 3120,
        "meeting_date": "2027-01-15",
    },
    "collective.forest-contract": {
        "contractor": "韦迪忠",
        "contractor_id": WEI,
        "parcel": "北岭山脚集体林地",
        "forest_type": "经济林",
        "area": 35,
        "years": 30,
        "fee": 25,
    },
    "collective.compensation-distribution": {
        "project": "崖州湾科技城配套道路项目",
        "received": 5600000,
        "distributed": 3920000,
        "persons": 1568,
        "meeting_date": "2026-10-10",
    },
    "authorised.yishi-yiyi": {
        "project": "水南村四组巷道硬化",
        "per_capita": 15,
        "labour_days": 2,
        "population": 420,
        "meeting_date": "2026-09-01",
    },
    "authorised.mediation-agreement": {
        "party_a": "黎亚民",
        "party_a_id": WEI,
        "party_b": "陈晓东",
        "party_b_id": CHEN,
        "dispute_type": "邻里纠纷",
        "facts": "双方因房屋滴水及排水沟占用发生争执。",
        "terms": "乙方于十日内改建排水沟，费用由双方各半承担。",
        "performance": "2026年12月5日前履行完毕",
        "mediator": "邢雄荣",
    },
    "authorised.homestead-review": {
        "applicant": "黎英俊",
        "applicant_id": LI,
        "household_members": 4,
        "reason": "分户新建",
        "location": "水南村四组，东至村道，西至黎某宅，南至空地，北至水塘",
        "land_area": 120,
        "floors": 3,
        "group_meeting_date": "2026-10-20",
        "publicity_end": "2026-11-05",
        "one_house": True,
    },
    "authorised.guardian-designation": {
        "ward": "符小梅",
        "ward_id": FU,
        "ward_status": "未成年人",
        "guardian": "符玉兰",
        "guardian_id": WEI,
        "relation": "祖母",
        "reason": "父母均已死亡，祖父母与外祖父母对担任监护人有争议，被监护人长期随祖母生活。",
    },
}

# Matters with a document template (the applicant need not upload a PDF for these).
TEMPLATED = (
    "agri.winter-vegetable-subsidy",
    "agri.mulch-film-subsidy",
    "civil-affairs.death-certificate",
    "collective.land-contract",
    "residence.certificate",
    "civil.introduction-letter",
    "collective.asset-lease",
    "collective.income-distribution",
    "authorised.mediation-agreement",
    "authorised.homestead-review",
    "authorised.guardian-designation",
)

# What each computed field must come to, worked out here from the matter's own tables.
Expect = Callable[[Mapping[str, Any], Mapping[str, Mapping[str, float]]], dict[str, float]]
EXPECTED: dict[str, Expect] = {
    "agri.winter-vegetable-subsidy": lambda f, t: {"amount": round(f["area"] * t["rates"][f["crop"]] * f["cycles"], 2)},
    "agri.mulch-film-subsidy": lambda f, t: {"amount": round(f["area"] * t["rates"][f["film_type"]], 2)},
    "collective.land-contract": lambda f, t: {"total_fee": round(f["area"] * f["fee"] * f["years"], 2)},
    "collective.land-transfer-filing": lambda f, t: {"total_rent": round(f["area"] * f["rent"] * f["years"], 2)},
    "collective.asset-lease": lambda f, t: {"total_rent": round(f["annual_rent"] * f["years"], 2)},
    "collective.forest-contract": lambda f, t: {"total_fee": round(f["area"] * f["fee"] * f["years"], 2)},
    "collective.income-distribution": lambda f, t: {
        "distributable": round(f["net_income"] * (100 - f["reserve_pct"]) / 100, 2),
        "per_share": round(round(f["net_income"] * (100 - f["reserve_pct"]) / 100, 2) / f["shares"], 2),
    },
    "collective.compensation-distribution": lambda f, t: {"per_person": round(f["distributed"] / f["persons"], 2)},
    "civil.labour-agreement": lambda f, t: {"total_pay": round(f["monthly_pay"] * f["months"], 2)},
    "civil.service-contract": lambda f, t: {"total_fee": round(f["annual_fee"] * f["years"], 2)},
    "authorised.yishi-yiyi": lambda f, t: {"total": round(f["per_capita"] * f["population"], 2)},
}


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    with CATALOG.open(encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    assert isinstance(data, dict)
    return parse(data)


@pytest.fixture(scope="module")
def env() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=True, undefined=jinja2.StrictUndefined
    )


def the(catalog: Catalog, code: str) -> Matter:
    matter = catalog.matter(code)
    assert matter is not None, f"no matter {code}"
    return matter


def properties(schema: Mapping[str, Any], path: str = "") -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Every property schema of a form, nested objects and array items included, with its path."""
    for name, prop in schema.get("properties", {}).items():
        yield f"{path}/{name}", prop
        yield from properties(prop, f"{path}/{name}")
        items = prop.get("items")
        if isinstance(items, Mapping):
            yield from properties(items, f"{path}/{name}/items")


def complete(matter: Matter, submitted: Mapping[str, Any]) -> dict[str, Any]:
    """The form with its computed fields, evaluated in order as the service does."""
    values = dict(submitted)
    names: dict[str, Any] = {**values, **matter.tables}
    for field, expression in matter.computed.items():
        values[field] = names[field] = simpleeval.simple_eval(expression, names=names, functions=FUNCTIONS)
    return values


def errors(matter: Matter, values: Mapping[str, Any]) -> list[ValidationError]:
    return list(Draft202012Validator(matter.form).iter_errors(values))


def render(env: jinja2.Environment, matter: Matter, values: Mapping[str, Any], purpose: str = "办理相关业务") -> str:
    assert matter.template is not None
    request = SimpleNamespace(number="SN-2026-000123", purpose=purpose, copies=2)
    organisation = SimpleNamespace(name="水南村")
    return env.get_template(matter.template).render(
        matter=matter, organisation=organisation, form=values, request=request, today=TODAY
    )


# ------------------------------------------------------------------------------------------------ the whole


def test_catalogue_parses_with_enough_matters_in_every_class(catalog: Catalog) -> None:
    assert catalog.version == 1
    assert len(catalog.matters) >= 45
    per_class = Counter(m.use_class for m in catalog.matters)
    assert set(per_class) == set(UseClass)
    assert all(per_class[c] >= 6 for c in UseClass), per_class
    assert all(CHINESE.search(catalog.classes[c]) for c in UseClass)


def test_the_seeds_matters_are_there_with_their_legal_class(catalog: Catalog) -> None:
    for code, use_class in SEED_MATTERS.items():
        assert the(catalog, code).use_class is use_class, code
    assert "冬季瓜菜" in the(catalog, "agri.winter-vegetable-subsidy").name
    assert "地膜" in the(catalog, "agri.mulch-film-subsidy").name
    assert "死亡证明" in the(catalog, "civil-affairs.death-certificate").name
    assert "土地承包合同" in the(catalog, "collective.land-contract").name
    assert "居住证明" in the(catalog, "residence.certificate").name


def test_the_seeds_subsidy_is_electronic_and_goes_to_the_agriculture_bureau(catalog: Catalog) -> None:
    winter = the(catalog, "agri.winter-vegetable-subsidy")
    assert winter.forms == (SealForm.ELECTRONIC,)
    assert winter.chain == "standard"
    assert winter.destination == "agriculture"
    assert "农业农村" in catalog.bureaus["agriculture"].name
    for matter in catalog.matters:
        if matter.code.endswith("-subsidy"):
            assert SealForm.ELECTRONIC in matter.forms, matter.code


def test_the_seeds_approval_route(catalog: Catalog) -> None:
    levels = [(lv.post, lv.scope, lv.mode) for lv in catalog.chains["standard"].levels]
    assert levels == [
        (Post.GROUP_LEADER, Scope.GROUP, Mode.ANY),
        (Post.SECRETARY, Scope.ORGANISATION, Mode.ANY),
        (Post.SEAL_ADMIN, Scope.ORGANISATION, Mode.ANY),
    ]
    assert [lv.post for lv in catalog.chains["village"].levels] == [Post.SECRETARY, Post.SEAL_ADMIN]
    major = catalog.chains["major"].levels
    assert [lv.post for lv in major] == [Post.SECRETARY, Post.COMMITTEE_MEMBER, Post.SEAL_ADMIN]
    assert major[1].mode is Mode.MAJORITY
    assert any(lv.mode is Mode.ALL for lv in catalog.chains["joint"].levels)
    assert any(lv.scope is Scope.PARENT for lv in catalog.chains["township"].levels)


def test_every_chain_ends_with_the_seal_administrator_and_has_chinese_labels(catalog: Catalog) -> None:
    for key, chain in catalog.chains.items():
        assert CHINESE.search(chain.name), key
        assert chain.levels[-1].post is Post.SEAL_ADMIN, key
        for level in chain.levels:
            assert level.label.strip(), key
            assert CHINESE.search(level.label), (key, level.label)
            assert level.post is not Post.CUSTODIAN, f"{key}: custodians keep the seals, they do not approve"
            assert 1 <= level.hours <= 24 * 7, (key, level.label)


def test_major_matters_go_to_the_two_committees(catalog: Catalog) -> None:
    deciding = {k for k, c in catalog.chains.items() if any(lv.mode is Mode.MAJORITY for lv in c.levels)}
    for code in (
        "collective.land-contract",
        "collective.income-distribution",
        "collective.asset-disposal",
        "collective.construction-land",
        "authorised.homestead-review",
    ):
        assert the(catalog, code).chain in deciding, code


def test_assisting_matters_name_the_office_they_go_to(catalog: Catalog) -> None:
    for matter in catalog.matters:
        if matter.use_class is UseClass.ASSISTING:
            assert matter.destination is not None, matter.code
    assert the(catalog, "authorised.village-affairs-disclosure").destination is None


def test_matter_texts_are_chinese(catalog: Catalog) -> None:
    for matter in catalog.matters:
        assert CHINESE.search(matter.name), matter.code
        assert CHINESE.search(matter.description), matter.code
        assert matter.basis is not None, matter.code
        assert "《" in matter.basis, matter.code
    for kind in catalog.seals.values():
        assert CHINESE.search(kind.name)
    for bureau in catalog.bureaus.values():
        assert CHINESE.search(bureau.name)


# ------------------------------------------------------------------------------------------------ forms


def test_every_form_property_has_a_chinese_title(catalog: Catalog) -> None:
    for matter in catalog.matters:
        assert matter.form.get("additionalProperties") is False, matter.code
        assert matter.form.get("required"), matter.code
        for path, prop in properties(matter.form):
            title = prop.get("title")
            assert isinstance(title, str), f"{matter.code}{path}"
            assert CHINESE.search(title), f"{matter.code}{path}"


def test_profile_fields(catalog: Catalog) -> None:
    id_pattern = re.compile(ID_PATTERN)
    for matter in catalog.matters:
        for path, prop in properties(matter.form):
            source = prop.get("x-profile")
            if source is None:
                continue
            assert source in PROFILE_SOURCES, f"{matter.code}{path}"
            assert prop.get("type") == "string", f"{matter.code}{path}"
            if source == "id_number":
                assert prop.get("pattern") == ID_PATTERN, f"{matter.code}{path}"
    assert id_pattern.match(LI)
    assert not id_pattern.match("460200198813124510")  # month 13
    winter = the(catalog, "agri.winter-vegetable-subsidy").form["properties"]
    assert {winter[f].get("x-profile") for f in ("applicant", "id_number", "ssn")} == PROFILE_SOURCES


def test_computed_fields_are_read_only_numbers_nobody_submits(catalog: Catalog) -> None:
    for matter in catalog.matters:
        for field in matter.computed:
            prop = matter.form["properties"][field]
            assert prop["type"] == "number", (matter.code, field)
            assert prop.get("readOnly") is True, (matter.code, field)
            assert field not in matter.form["required"], (matter.code, field)


def test_table_lookups_cover_every_choice_the_form_offers(catalog: Catalog) -> None:
    """``rates[crop]`` must find a rate for every crop the form lets the applicant choose."""
    for matter in catalog.matters:
        for expression in matter.computed.values():
            for node in ast.walk(ast.parse(expression, mode="eval")):
                if not (isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name)):
                    continue
                assert isinstance(node.slice, ast.Name), (matter.code, expression)
                choices = matter.form["properties"][node.slice.id].get("enum")
                assert choices, f"{matter.code}: {node.slice.id} must be an enum to index {node.value.id}"
                assert set(choices) <= set(matter.tables[node.value.id]), matter.code


def test_every_computing_or_templated_matter_has_a_sample(catalog: Catalog) -> None:
    for matter in catalog.matters:
        if matter.computed:
            assert matter.code in SAMPLES, matter.code
            assert matter.code in EXPECTED, matter.code
        if matter.template:
            assert matter.code in SAMPLES, matter.code
    assert set(SEED_MATTERS) <= set(SAMPLES)


@pytest.mark.parametrize("code", sorted(SAMPLES))
def test_sample_forms_are_valid(catalog: Catalog, code: str) -> None:
    matter = the(catalog, code)
    assert errors(matter, SAMPLES[code]) == []
    assert errors(matter, complete(matter, SAMPLES[code])) == []


@pytest.mark.parametrize("code", sorted(EXPECTED))
def test_computed_fields(catalog: Catalog, code: str) -> None:
    matter = the(catalog, code)
    values = complete(matter, SAMPLES[code])
    expected = EXPECTED[code](SAMPLES[code], matter.tables)
    assert set(expected) == set(matter.computed)
    for field, value in expected.items():
        assert values[field] == pytest.approx(value), field


def test_the_winter_vegetable_subsidy_of_the_seed(catalog: Catalog) -> None:
    matter = the(catalog, "agri.winter-vegetable-subsidy")
    rates = matter.tables["rates"]
    assert {"辣椒", "豇豆", "苦瓜", "黄瓜", "圣女果", "哈密瓜"} <= set(rates)
    assert all(0 < rate < 2000 for rate in rates.values())
    values = complete(matter, {**SAMPLES[matter.code], "crop": "辣椒", "cycles": 2, "area": 3.5})
    assert values["amount"] == round(3.5 * rates["辣椒"] * 2, 2)
    assert complete(matter, {**SAMPLES[matter.code], "crop": "豇豆", "cycles": 1, "area": 1})["amount"] == rates["豇豆"]


def test_mulch_film_subsidy_is_area_times_rate(catalog: Catalog) -> None:
    matter = the(catalog, "agri.mulch-film-subsidy")
    for film, rate in matter.tables["rates"].items():
        values = complete(matter, {**SAMPLES[matter.code], "film_type": film, "area": 2.25})
        assert values["amount"] == round(2.25 * rate, 2)


# One way to get each seed's form wrong, three times over: a required field left out, a value of the wrong
# type, a field the form does not have.
INVALID: dict[str, tuple[str, str, Any]] = {
    # code: (required field to drop, field to give a wrong type, the wrong value)
    "agri.winter-vegetable-subsidy": ("crop", "area", "三亩半"),
    "agri.mulch-film-subsidy": ("film_type", "area", [12]),
    "civil-affairs.death-certificate": ("death_date", "deceased", 42),
    "collective.land-contract": ("contractor_id", "years", 30.5),
    "residence.certificate": ("address", "since", None),
}


@pytest.mark.parametrize("code", sorted(INVALID))
def test_seed_forms_reject_what_is_wrong(catalog: Catalog, code: str) -> None:
    matter = the(catalog, code)
    sample = SAMPLES[code]
    dropped, mistyped, wrong = INVALID[code]
    assert dropped in matter.form["required"]

    missing = errors(matter, {k: v for k, v in sample.items() if k != dropped})
    assert [(e.validator, list(e.path)) for e in missing] == [("required", [])]
    assert repr(dropped) in missing[0].message

    typed = errors(matter, {**sample, mistyped: wrong})
    assert [(e.validator, list(e.path)) for e in typed] == [("type", [mistyped])]

    extra = errors(matter, {**sample, "remark": "请尽快办理"})
    assert [(e.validator, list(e.path)) for e in extra] == [("additionalProperties", [])]
    assert "remark" in extra[0].message


@pytest.mark.parametrize(
    ("code", "field", "value", "validator"),
    [
        ("agri.winter-vegetable-subsidy", "crop", "榴莲", "enum"),
        ("agri.winter-vegetable-subsidy", "cycles", 4, "maximum"),
        ("agri.winter-vegetable-subsidy", "area", 0, "exclusiveMinimum"),
        ("agri.winter-vegetable-subsidy", "area", 500.5, "maximum"),
        ("agri.winter-vegetable-subsidy", "id_number", "46020019881312451X", "pattern"),
        ("agri.winter-vegetable-subsidy", "phone", "12345", "pattern"),
        ("civil-affairs.death-certificate", "category", "交通事故", "enum"),
        ("collective.land-contract", "years", 71, "maximum"),
        ("residence.certificate", "purpose", "办理银行开户", "enum"),
    ],
)
def test_seed_forms_check_their_constraints(
    catalog: Catalog, code: str, field: str, value: object, validator: str
) -> None:
    matter = the(catalog, code)
    found = errors(matter, {**SAMPLES[code], field: value})
    assert [(e.validator, list(e.path)) for e in found] == [(validator, [field])]


def test_a_death_certificate_never_states_an_unnatural_death(catalog: Catalog) -> None:
    """Deaths that are not natural are for the police; the village only speaks to a death at home."""
    categories = the(catalog, "civil-affairs.death-certificate").form["properties"]["category"]["enum"]
    assert categories
    assert all("正常" in c or c in {"疾病死亡", "衰老死亡"} for c in categories)


# ------------------------------------------------------------------------------------------------ templates


def test_templates_exist_for_the_seeds_and_more(catalog: Catalog) -> None:
    templated = [m for m in catalog.matters if m.template]
    assert {m.code for m in templated} == set(TEMPLATED)
    assert set(SEED_MATTERS) <= set(TEMPLATED)
    assert len(templated) >= 10
    shipped = {p.name for p in TEMPLATES.glob("*.html")}
    assert {m.template for m in templated} <= shipped


def _shown(field: str, value: object, computed: Mapping[str, str]) -> str | None:
    """How a form value appears in a rendered document, or None if it is not printed as such."""
    if isinstance(value, bool):
        return None
    if field in computed:
        assert isinstance(value, (int, float))
        return f"{value:.2f}"
    return str(escape(str(value)))


@pytest.mark.parametrize("code", TEMPLATED)
def test_templates_render_the_form(catalog: Catalog, env: jinja2.Environment, code: str) -> None:
    matter = the(catalog, code)
    values = complete(matter, SAMPLES[code])
    html = render(env, matter, values)
    assert html.count(SEAL_ANCHOR) == 1, "exactly one place for the village's seal"
    assert html.rindex(SEAL_ANCHOR) > len(html) // 2, "the seal goes at the bottom"
    for needle in ("水南村", "SN-2026-000123", "Noto Serif CJK SC", "@page"):
        assert needle in html
    assert "None" not in html
    assert "<script" not in html
    assert "http" not in html
    for field, value in values.items():
        shown = _shown(field, value, matter.computed)
        if shown is not None:
            assert shown in html, f"{code}: {field}={value!r} is not in the document"


def test_certificates_read_like_certificates(catalog: Catalog, env: jinja2.Environment) -> None:
    for code, title in (("residence.certificate", "居住证明"), ("civil-affairs.death-certificate", "死亡情况证明")):
        matter = the(catalog, code)
        html = render(env, matter, complete(matter, SAMPLES[code]))
        assert f"<h1>{title}</h1>" in html
        assert "特此证明。" in html
        assert TODAY in html
        assert html.index(TODAY) > html.index("特此证明。")
    death = render(env, the(catalog, "civil-affairs.death-certificate"), SAMPLES["civil-affairs.death-certificate"])
    assert "不证明死亡原因" in death


def test_subsidy_documents_show_the_amount_in_yuan(catalog: Catalog, env: jinja2.Environment) -> None:
    matter = the(catalog, "agri.winter-vegetable-subsidy")
    values = complete(matter, SAMPLES[matter.code])
    html = render(env, matter, values)
    amount = round(3.5 * matter.tables["rates"]["辣椒"] * 2, 2)
    assert f"<td>{amount:.2f}</td>" in html
    assert "补贴金额（元）" in html
    assert "社会保障卡金融账户" in html  # no bank account given: paid to the social-security card


def test_templates_escape_what_the_applicant_typed(catalog: Catalog, env: jinja2.Environment) -> None:
    matter = the(catalog, "residence.certificate")
    values = {**SAMPLES[matter.code], "address": '水南村<script>alert("x")</script>二组'}
    html = render(env, matter, values, purpose="<b>入学</b>")
    assert "<script>" not in html
    assert "<b>" not in html
    assert "&lt;script&gt;" in html
    assert "&lt;b&gt;" in html


def test_optional_fields_may_be_missing(catalog: Catalog, env: jinja2.Environment) -> None:
    for code, optional in (("residence.certificate", "phone"), ("collective.land-contract", "parcel_code")):
        matter = the(catalog, code)
        assert optional not in matter.form["required"]
        values = complete(matter, {k: v for k, v in SAMPLES[code].items() if k != optional})
        assert errors(matter, values) == []
        html = render(env, matter, values)
        assert "None" not in html
        assert SEAL_ANCHOR in html


# ------------------------------------------------------------------------------------------------ negative list


def test_negative_list_cites_its_rules(catalog: Catalog) -> None:
    assert len(catalog.negative_list) >= 15
    for item in catalog.negative_list:
        assert item.code.startswith("neg."), item.code
        assert CHINESE.search(item.name), item.code
        assert CHINESE.search(item.reason), item.code
        assert ("《" in item.rule and "》" in item.rule) or ("〔" in item.rule and "〕" in item.rule), item.code
    rules = " ".join(item.rule for item in catalog.negative_list)
    assert "民发〔2020〕20号" in rules
    assert "国办发〔2018〕47号" in rules


def test_nothing_is_both_a_matter_and_refused(catalog: Catalog) -> None:
    matters = {m.name for m in catalog.matters}
    refused = {n.name for n in catalog.negative_list}
    assert not matters & refused
    assert {"无犯罪记录证明", "亲属关系证明", "出生证明", "健在证明", "婚姻状况证明"} <= refused
    assert catalog.refused("neg.no-criminal-record") is not None
    assert catalog.matter("neg.no-criminal-record") is None

"""Which form fields hold personal numbers (ID, phone, bank account, social security), and how they are shown to
anyone but the applicant.

A field's format is known, first found, from:

1. its JSON Schema ``format``: ``id-number``, ``phone``, ``bank-account`` or ``ssn`` (formats of the catalogue's
   own, which JSON Schema allows as annotations);
2. its ``x-profile``: a field the applicant's profile fills with the ID or social-security number;
3. the catalogue's conventions: the property's name (``id_number``, ``*_phone``, ``bank_account``, ``ssn``...)
   or its title (公民身份号码, 联系电话, 银行账号, 社会保障号码...).

Masking by format, not by where a value came from, keeps a number typed into a form as private as one filled
from the profile.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from identity.idcard import mask


class Personal(StrEnum):
    ID_NUMBER = "id-number"
    PHONE = "phone"
    BANK_ACCOUNT = "bank-account"
    SSN = "ssn"


_FORMATS = {kind.value: kind for kind in Personal}
_PROFILE = {"id_number": Personal.ID_NUMBER, "ssn": Personal.SSN}
_NAMES = (
    (re.compile(r"(^|_)(id_number|id_no|id_card|idcard)$"), Personal.ID_NUMBER),
    (re.compile(r"(^|_)(phone|mobile|tel|telephone)$"), Personal.PHONE),
    (re.compile(r"(^|_)(bank_account|bank_card|account_no|account_number|card_number)$"), Personal.BANK_ACCOUNT),
    (re.compile(r"(^|_)(ssn|social_security(_number|_no)?)$"), Personal.SSN),
)
_TITLES = (
    (("公民身份号码", "身份证号", "残疾人证号"), Personal.ID_NUMBER),
    (("社会保障号码", "社会保障卡号", "社保卡号"), Personal.SSN),
    (("电话", "手机"), Personal.PHONE),
    (("银行账号", "银行卡号", "账号", "卡号"), Personal.BANK_ACCOUNT),
)
# How much of each stays visible at the start and the end, as Chinese services print them.
_KEEP = {
    Personal.ID_NUMBER: (4, 4),
    Personal.SSN: (4, 4),
    Personal.PHONE: (3, 4),
    Personal.BANK_ACCOUNT: (0, 4),
}


def format_of(name: str, prop: Mapping[str, Any]) -> Personal | None:
    """The personal format of the form property ``name`` with schema ``prop``, or None."""
    declared = prop.get("format")
    if isinstance(declared, str) and declared in _FORMATS:
        return _FORMATS[declared]
    profile = prop.get("x-profile")
    if isinstance(profile, str) and profile in _PROFILE:
        return _PROFILE[profile]
    for pattern, kind in _NAMES:
        if pattern.search(name.lower()):
            return kind
    title = prop.get("title")
    if isinstance(title, str):
        for words, kind in _TITLES:
            if any(word in title for word in words):
                return kind
    return None


def mask_as(kind: Personal, value: str) -> str:
    start, end = _KEEP[kind]
    return mask(value, keep_start=start, keep_end=end)


def masked_values(schema: Mapping[str, Any], values: Any) -> Any:
    """``values`` with every string of a personal format masked, nested objects and array items included."""
    if isinstance(values, Mapping):
        props = schema.get("properties", {})
        props = props if isinstance(props, Mapping) else {}
        shown: dict[str, Any] = {}
        for name, value in values.items():
            prop = props.get(name)
            prop = prop if isinstance(prop, Mapping) else {}
            kind = format_of(str(name), prop)
            if kind is not None and isinstance(value, str):
                shown[name] = mask_as(kind, value)
            else:
                shown[name] = masked_values(prop, value)
        return shown
    if isinstance(values, list):
        items = schema.get("items")
        items = items if isinstance(items, Mapping) else {}
        return [masked_values(items, value) for value in values]
    return values

"""Kinds of organisation, the posts people hold in them, and which post fits which organisation."""

from __future__ import annotations

from enum import StrEnum


class OrgKind(StrEnum):
    DISTRICT = "district"
    TOWNSHIP = "township"
    VILLAGE = "village"
    COMMUNITY = "community"
    GROUP = "group"
    BUREAU = "bureau"


class Post(StrEnum):
    STAFF = "staff"
    GROUP_LEADER = "group_leader"
    SECRETARY = "secretary"
    COMMITTEE_MEMBER = "committee_member"
    SEAL_ADMIN = "seal_admin"
    CUSTODIAN = "custodian"
    INSPECTOR = "inspector"
    CERT_ADMIN = "cert_admin"
    BUREAU = "bureau"
    ADMIN = "admin"


# Sanya's districts govern villages directly, other places through townships: both are allowed.
PARENT_KINDS: dict[OrgKind, frozenset[OrgKind | None]] = {
    OrgKind.DISTRICT: frozenset({None}),
    OrgKind.TOWNSHIP: frozenset({OrgKind.DISTRICT}),
    OrgKind.VILLAGE: frozenset({OrgKind.TOWNSHIP, OrgKind.DISTRICT}),
    OrgKind.COMMUNITY: frozenset({OrgKind.TOWNSHIP, OrgKind.DISTRICT}),
    OrgKind.GROUP: frozenset({OrgKind.VILLAGE, OrgKind.COMMUNITY}),
    OrgKind.BUREAU: frozenset({OrgKind.DISTRICT, OrgKind.TOWNSHIP}),
}

_SEAT = frozenset({OrgKind.VILLAGE, OrgKind.COMMUNITY, OrgKind.TOWNSHIP})

POST_KINDS: dict[Post, frozenset[OrgKind]] = {
    Post.STAFF: frozenset({OrgKind.DISTRICT, OrgKind.TOWNSHIP, OrgKind.VILLAGE, OrgKind.COMMUNITY}),
    Post.GROUP_LEADER: frozenset({OrgKind.GROUP}),
    Post.SECRETARY: _SEAT,
    Post.COMMITTEE_MEMBER: frozenset({OrgKind.VILLAGE, OrgKind.COMMUNITY}),
    Post.SEAL_ADMIN: _SEAT,
    Post.CUSTODIAN: _SEAT,
    Post.INSPECTOR: frozenset({OrgKind.DISTRICT, OrgKind.TOWNSHIP}),
    Post.CERT_ADMIN: frozenset({OrgKind.DISTRICT}),
    Post.BUREAU: frozenset({OrgKind.BUREAU}),
    Post.ADMIN: frozenset({OrgKind.DISTRICT, OrgKind.TOWNSHIP}),
}

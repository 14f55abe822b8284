"""Schemathesis against a live `sealgate serve` on the demo: every operation of the OpenAPI document gets a fixed
number of generated requests, valid ones and broken ones, as an applicant and as an administrator. No answer may be
a server error, a broken request may not be accepted, and every answer must be what the document says: a
documented status, its content type, a body that matches its schema.

Path ids past 64 bits are not this test's subject (the routes that take one are bounded on their own): a 500 for
such an id is counted and reported as a warning, not failed; a server error for any other request fails the test.
"""

from __future__ import annotations

import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import Failure
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from bench.ports import free_port
from tests.cli.support import run, serving

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("timed")]

Case = schemathesis.Case[Any]
EXAMPLES = {schemathesis.GenerationMode.POSITIVE: 5, schemathesis.GenerationMode.NEGATIVE: 4}  # per operation
# A sign-in costs a deliberately slow password hash, and failed ones slow the next down.
FEWER = {("POST", "/api/v1/auth/token"): 2}
# After the demo is up, for both roles; past it the test fails rather than runs on. The run needs some 15 s of
# processor time here (generating broken requests is most of it) and as much in the server: the room is for a
# machine busy with other tests.
BUDGET_SECONDS = 170.0
ROLES = {"applicant": ("sn.resident", "demo-sn-resident"), "administrator": ("yz.admin", "demo-yz-admin")}
# Valid requests go as each role, as what a valid request reaches differs; broken ones as the applicant only: the
# schema refuses them before any service looks at the caller's posts, and generating them is the costly part.
MODES = {
    "applicant": (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE),
    "administrator": (schemathesis.GenerationMode.POSITIVE,),
}
SKIPPED = {("DELETE", "/api/v1/auth/token")}  # signing out would end the session the rest of the run uses
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
INT64 = 2**63


@dataclass
class Findings:
    failures: dict[tuple[str, str], str] = field(default_factory=dict)  # (operation, check): its first case
    wide_ids: Counter[str] = field(default_factory=Counter)  # operation: 500s for a path id past 64 bits
    cases: int = 0

    def add(self, operation: str, failure: Failure, curl: str) -> None:
        self.failures.setdefault((operation, failure.title), f"{operation}: {failure.title}: {failure.message}\n{curl}")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root: Path = tmp_path_factory.mktemp("schemathesis")
    port = str(free_port())
    configured = {"SEALGATE_PORT": port, "SEALGATE_PUBLIC_URL": f"http://127.0.0.1:{port}"}
    for command in (("db", "upgrade"), ("ca", "init", "--if-missing"), ("demo",)):
        done = run(root, *command, **configured)
        assert done.returncode == 0, done.stdout + done.stderr
    with serving(root, root / "serve.log", **configured) as base:
        yield base


def _sign_in(base: str, username: str, password: str) -> str:
    answer = httpx.post(f"{base}/api/v1/auth/token", data={"username": username, "password": password}, timeout=60)
    assert answer.status_code == 200, answer.text
    token: str = answer.json()["access_token"]
    return token


def _wide_path_id(case: Case) -> bool:
    return any(isinstance(v, int) and not -INT64 <= v < INT64 for v in (case.path_parameters or {}).values())


def _check(case: Case, response: Any, http: requests.Session, name: str, findings: Findings) -> None:
    try:
        case.validate_response(response, checks=CHECKS, headers=dict(http.headers))
    except Failure as failure:
        findings.add(name, failure, case.as_curl_command())
    except BaseExceptionGroup as group:
        for each in group.exceptions:
            if not isinstance(each, Failure):
                raise
            findings.add(name, each, case.as_curl_command())


def _exercise(
    base: str, token: str, findings: Findings, deadline: float, mode: schemathesis.GenerationMode, public: bool
) -> None:
    """Every operation (without ``public``: only those behind a token, the others answer anyone alike)."""
    schema = schemathesis.openapi.from_url(f"{base}/openapi.json")
    http = requests.Session()
    http.headers["Authorization"] = f"Bearer {token}"
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), f"the document has an operation it cannot describe: {result}"
        operation = result.ok()
        key = (operation.method.upper(), operation.path)
        name = " ".join(key)
        if key in SKIPPED or not (public or operation.definition.raw.get("security")):
            continue

        def one(case: Case, name: str = name) -> None:
            findings.cases += 1
            response = case.call(base_url=base, session=http, timeout=60)
            if response.status_code == 500 and _wide_path_id(case):
                findings.wide_ids[name] += 1
            else:
                _check(case, response, http, name, findings)

        try:
            _run(operation.as_strategy(generation_mode=mode), one, FEWER.get(key, EXAMPLES[mode]))
        except Unsatisfiable:
            # nothing of it can be broken: an operation that takes no parameters and no body
            assert mode is schemathesis.GenerationMode.NEGATIVE, f"no valid request for {name}"
        assert time.monotonic() < deadline, f"schemathesis ran past its {BUDGET_SECONDS} s at {name}"


def _run(strategy: st.SearchStrategy[Case], one: Callable[[Case], None], examples: int) -> None:
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def each(case: Case) -> None:
        one(case)

    each()


def test_generated_requests_get_documented_answers_and_no_server_error(site: str) -> None:
    tokens = {role: _sign_in(site, *credentials) for role, credentials in ROLES.items()}  # before any failed sign-in
    findings = Findings()
    deadline = time.monotonic() + BUDGET_SECONDS
    for role, token in tokens.items():
        for mode in MODES[role]:
            _exercise(site, token, findings, deadline, mode, public=role == "applicant")
    if findings.wide_ids:
        warnings.warn(
            f"{sum(findings.wide_ids.values())} server errors for path ids past 64 bits, on "
            f"{len(findings.wide_ids)} operations: {', '.join(sorted(findings.wide_ids))}",
            stacklevel=1,
        )
    assert findings.cases > 400
    for role, token in tokens.items():  # each role was itself to the end (no generated request disabled it)
        me = httpx.get(f"{site}/api/v1/me", headers={"Authorization": f"Bearer {token}"}, timeout=60)
        assert me.status_code == 200, f"the {role} was signed out during the run: {me.text}"
    report = "\n".join(findings.failures.values())
    assert not findings.failures, f"{len(findings.failures)} findings in {findings.cases} requests:\n{report}"

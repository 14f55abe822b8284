"""Every problem type any part of the service can raise resolves to a description under /problems/."""

from __future__ import annotations

import importlib
import pkgutil

import api
import ca
import identity
import ledger
import sealgate
import signer
import workflow
from api.problems import CATALOGUE
from core.errors import DomainError


def _subclasses(cls: type[DomainError]) -> set[type[DomainError]]:
    found = set(cls.__subclasses__())
    for sub in list(found):
        found |= _subclasses(sub)
    return found


def test_every_domain_error_has_a_problem_type() -> None:
    for package in (sealgate, identity, ledger, ca, signer, workflow, api):
        for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            if not module.name.endswith("__main__") and ".migrations" not in module.name:
                importlib.import_module(module.name)
    missing = sorted({cls.problem for cls in _subclasses(DomainError)} - set(CATALOGUE))
    assert missing == []

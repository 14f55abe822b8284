"""Who reads the service's metrics: the routes, their traffic and their failures tell an outsider too much, so only
the monitoring does, from an address of ``metrics_allow_ips`` or with the bearer token ``metrics_token``."""

from __future__ import annotations

import hmac
import ipaddress

from core.errors import Forbidden
from core.settings import Settings


def may_read(settings: Settings, client: str | None, token: str | None) -> bool:
    """An allowed address (or network), or the configured token, compared in constant time."""
    expected = settings.metrics_token
    if token and expected is not None and hmac.compare_digest(token.encode(), expected.get_secret_value().encode()):
        return True
    if client is None:
        return False
    try:
        address = ipaddress.ip_address(client)
    except ValueError:
        return False
    for allowed in settings.metrics_allow_ips:
        try:
            if address in ipaddress.ip_network(allowed, strict=False):
                return True
        except ValueError:
            continue  # not an address or a network: it allows nobody
    return False


def check_reader(settings: Settings, client: str | None, token: str | None) -> None:
    if not may_read(settings, client, token):
        raise Forbidden("the metrics are for the monitoring: an allowed address, or its token")

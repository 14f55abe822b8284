"""Every app's tables in one MetaData, for migrations and schema checks (a composition point, like the CLI)."""

from __future__ import annotations

import identity.models
import ledger.models
from sealgate.db import Base

metadata = Base.metadata
APPS = (identity.models, ledger.models)

"""Every app's tables in one MetaData, for migrations and schema checks (a composition point, like the CLI)."""

from __future__ import annotations

import ca.models  # noqa: F401  (the imports register the tables)
import core.database_blobs
import core.idempotency  # noqa: F401
import identity.models  # noqa: F401
import ledger.models  # noqa: F401
import physical_seal.models  # noqa: F401
import signer.models  # noqa: F401
import workflow.models  # noqa: F401
from core.db import Base

metadata = Base.metadata

"""The one lock every PDFium call in a process holds.

PDFium keeps process-wide state and is not safe to enter from two threads at once, not even on different
documents (pypdfium2 says so, and advises processes for parallel work). A service process enters it from the
executor's threads (finding where a seal goes), the API's thread pool (page pictures) and in-process verification;
two of them at once end the process with SIGSEGV or SIGTRAP. Re-entrant, so a locked function may call another.
Every PDFium object is closed before the lock is released, so no finaliser runs PDFium outside it.
"""

from __future__ import annotations

import threading

PDFIUM = threading.RLock()

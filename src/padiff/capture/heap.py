"""Keep the objects that exist before a comparison out of the garbage collector's full collections.

A process holding torch and paddle has hundreds of thousands of long-lived objects; a run adds call
records as it goes, and every few thousand of them Python's collector walks the whole heap again (a
comparison of a layer called in a loop spent a sixth of its time there). `frozen_heap` moves what exists
to the collector's permanent generation (`gc.freeze`) for the duration and back afterwards
(`gc.unfreeze`): nothing is collected that would not be, only not re-examined. It does nothing where the
collector is disabled or something else froze objects already (whose freeze it leaves alone).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["frozen_heap"]


@contextmanager
def frozen_heap() -> Iterator[None]:
    if not gc.isenabled() or gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()

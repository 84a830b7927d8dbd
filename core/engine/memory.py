"""Ask the C allocator to keep freed memory for reuse during training.

Every training step allocates and frees the same multi-megabyte arrays. By default
glibc returns such blocks to the system and page-faults them back in on the next
step; raising its mmap and trim thresholds makes it reuse them instead (LeNet-5
training measured about 9 % faster). Elsewhere than glibc this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys

log = logging.getLogger(__name__)

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_done = False


def keep_freed_memory() -> None:
    """Raise glibc's trim threshold to 1 GiB and its mmap threshold to 64 MiB, once per process."""
    global _done
    if _done or not sys.platform.startswith("linux"):
        return
    _done = True
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and others have no mallopt
        return
    if not (mallopt(_M_TRIM_THRESHOLD, 1 << 30) and mallopt(_M_MMAP_THRESHOLD, 64 << 20)):
        log.debug("mallopt refused the thresholds; training runs with the default allocator settings")

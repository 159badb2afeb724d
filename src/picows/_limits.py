"""picows' own sizes and timings (policy, not RFC rules), defined once for both backends.

The compiled backend copies these into C variables when it is imported; the
pure backend reads them from here. Change them here only.
"""

from __future__ import annotations

__all__ = [
    "DEFAULT_MAX_FRAME_SIZE",
    "GATHER_WRITE_MIN",
    "HANDSHAKE_READ_SIZE",
    "INITIAL_BUFFER_SIZE",
    "KEEP_BUFFER_SIZE",
    "LINGER_QUIET_INTERVAL",
    "LINGER_TIMEOUT",
    "MAX_FRAME_SIZE_LIMIT",
    "MAX_HANDSHAKE_BODY_SIZE",
    "MAX_HANDSHAKE_EARLY_DATA",
    "MAX_HANDSHAKE_HEAD_SIZE",
    "MAX_READ_SIZE",
    "MIN_FREE_SPACE",
    "SHRINK_DELAY",
    "WRITE_BUFFER_KEEP",
    "WRITE_BUFFER_MIN",
]

# -- receive buffer ------------------------------------------------------------
# Allocate at the first read, start small, grow geometrically with the data of the frame being parsed (never
# with a length the peer only announced), ask the loop for at most MAX_READ_SIZE
# bytes per read. A buffer grown beyond KEEP_BUFFER_SIZE is released about
# SHRINK_DELAY seconds after it grew, once nothing is buffered (and retried until
# then), so a busy connection keeps its buffer and an idle one returns to a few
# KiB. Up to KEEP_BUFFER_SIZE a grown buffer is simply kept: no timer, because on
# the stdlib event loop any pending timer costs every loop iteration (~3% of a
# small round trip).

#: Capacity of a connection's receive buffer at its first read (nothing is allocated
#: before: an idle connection that has received no frame holds no receive buffer).
INITIAL_BUFFER_SIZE = 4096
#: Free space guaranteed to every read.
MIN_FREE_SPACE = 1024
#: Upper bound of one read.
MAX_READ_SIZE = 256 * 1024
#: Buffers up to this size are kept; larger ones are released when idle.
KEEP_BUFFER_SIZE = 32 * 1024
#: Seconds after growth before an idle large buffer is released.
SHRINK_DELAY = 1.0

# -- send buffer (compiled backend) ----------------------------------------------
#: Smallest reusable frame-building buffer.
WRITE_BUFFER_MIN = 1024
#: A frame-building buffer larger than this is freed after the send.
WRITE_BUFFER_KEEP = 64 * 1024
#: Unmasked payloads of at least this size are written from where they are, next to
#: their header (sendmsg / aiofastnet's writelines), instead of copied into a frame.
GATHER_WRITE_MIN = 64 * 1024

# -- closing after an error ----------------------------------------------------------
#: Seconds to wait for the peer to close after picows closed a connection because of an error.
LINGER_TIMEOUT = 1.0
#: ... or until it has sent nothing for this long.
LINGER_QUIET_INTERVAL = 0.05

# -- frames ------------------------------------------------------------------------
#: Default largest accepted payload of one data frame.
DEFAULT_MAX_FRAME_SIZE = 10 * 1024 * 1024
#: Upper bound for max_frame_size: frame sizes must stay far from the 64-bit limits.
MAX_FRAME_SIZE_LIMIT = 2**62

# -- opening handshake ----------------------------------------------------------------
#: Bytes read at a time while the HTTP upgrade is in progress.
HANDSHAKE_READ_SIZE = 4096
#: Upper bound for the HTTP head of an upgrade request or response.
MAX_HANDSHAKE_HEAD_SIZE = 16 * 1024
#: Upper bound for the body of a non-101 handshake response kept in WSError.raw_body.
MAX_HANDSHAKE_BODY_SIZE = 64 * 1024
#: Bytes a server keeps from a client while an async ws_listener_factory runs (the
#: first frames); beyond this, reading pauses until the factory has answered.
MAX_HANDSHAKE_EARLY_DATA = 64 * 1024

"""Per-connection loggers that are not registered in the logging manager."""

from __future__ import annotations

import itertools
import logging

__all__ = ["connection_logger"]

_conn_ids = itertools.count(1)


class _ConnectionLogger(logging.Logger):
    """A child of ``picows.<name>`` that is never registered globally.

    ``logging.getLogger`` would keep every per-connection logger alive forever;
    this one lives as long as its connection. Registered loggers cache level
    checks and the manager clears those caches on ``setLevel``, but it does not
    know this logger, so it does not cache at all.
    """

    def isEnabledFor(self, level: int) -> bool:
        if self.manager.disable >= level:
            return False
        return level >= self.getEffectiveLevel()


def connection_logger(logger_name: str) -> logging.Logger:
    """A new unregistered logger named ``picows.<logger_name>.<connection id>``."""
    parent = logging.getLogger(f"picows.{logger_name}")
    logger = _ConnectionLogger(f"{parent.name}.{next(_conn_ids)}")
    logger.parent = parent
    return logger

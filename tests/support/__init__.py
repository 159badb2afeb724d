"""Helpers of the test suite (``tests/`` is on ``sys.path`` through ``conftest.py``).

One module per job; the tests import what they need from them:

* :mod:`support.frames` - the independent RFC 6455 frame encoder/decoder (the oracle:
  it never uses picows' own builder or parser);
* :mod:`support.net` - the one free-port helper, the one raw TCP server, bounded
  stream reads;
* :mod:`support.http` - hand-written upgrade requests and a parser for the responses;
* :mod:`support.raw_ws` - hand-written WebSocket peers (raw server, raw client);
* :mod:`support.listeners` - ``WSListener`` subclasses that record what they see;
* :mod:`support.servers` - picows servers and connections for the tests;
* :mod:`support.backends` - both backends side by side (differential and parity tests);
* :mod:`support.internals` - the ONLY place that reaches into picows' private modules;
* :mod:`support.tls`, :mod:`support.proxies` - real certificates and real proxy servers
  (pytest fixtures, registered by ``conftest.py``);
* :mod:`support.loops` - the event loops async tests run on and the loop rule;
* :mod:`support.conformance` - the harness of the conformance battery;
* :mod:`support.node`, :mod:`support.browser` - Node.js ``ws`` and headless Chromium as peers;
* :mod:`support.ws_api` - servers of ``picows.websockets`` and of the ``websockets`` package.

Only :mod:`support.backends`, :mod:`support.internals`, :mod:`support.listeners`,
:mod:`support.servers`, :mod:`support.conformance` and :mod:`support.ws_api` import picows; everything else
works without it, so a failure there points at the test environment.
"""

from __future__ import annotations

import platform
from pathlib import Path

__all__ = ["IS_PYPY", "REPO_ROOT", "TIMEOUT"]

#: The checkout the tests live in (for its examples/, setup.py, src/; picows itself is imported installed).
REPO_ROOT = Path(__file__).resolve().parents[2]

IS_PYPY = platform.python_implementation() == "PyPy"

#: Bound of one wait inside a test, in seconds (a whole test is bounded by PICOWS_TEST_TIMEOUT).
TIMEOUT = 10.0

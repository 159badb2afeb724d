# cython: language_level=3
# The public Cython API: ``from picows cimport WSFrame, WSTransport, WSListener``.
# (Declared in picows._cython; re-exported here so user code never names a private path.)

from picows._cython.frames cimport WSFrame
from picows._cython.transport cimport WSListener, WSTransport

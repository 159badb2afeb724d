# cython: language_level=3
# ``from picows.picows cimport WSFrame, WSTransport, WSListener``: the published
# picows package's spelling of the public Cython API (see picows/__init__.pxd).

from picows._cython.frames cimport WSFrame
from picows._cython.transport cimport WSListener, WSTransport

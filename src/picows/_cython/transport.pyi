# Type stubs for the compiled module: its Python-visible surface is, by
# contract (tests/test_parity.py), the same as the pure-Python twin's.
from picows._pure.transport import WSListener as WSListener
from picows._pure.transport import WSTransport as WSTransport
from picows._pure.transport import broadcast_loop as broadcast_loop

__all__ = ["WSListener", "WSTransport"]

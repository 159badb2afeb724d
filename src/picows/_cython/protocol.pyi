# Type stubs for the compiled module: its Python-visible surface is, by
# contract (tests/test_parity.py), the same as the pure-Python twin's.
from picows._pure.protocol import WSProtocol as WSProtocol

__all__ = ["WSProtocol"]

# Vectorised payload masking (RFC 6455 5.3), implemented in mask.h.
from libc.stdint cimport uint32_t

cdef extern from "mask.h" nogil:
    void picows_mask(char* dst, const char* src, size_t size, uint32_t key)

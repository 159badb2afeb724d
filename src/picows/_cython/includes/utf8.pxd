# Incremental UTF-8 validation (validate_utf8), implemented in utf8.h.
from libc.stdint cimport uint32_t

cdef extern from "utf8.h" nogil:
    int picows_utf8_validate(const char* data, size_t size, uint32_t* state)

# CPython C-API declarations that Cython's own cpython/*.pxd do not provide.

cdef extern from "Python.h":
    object PyMemoryView_FromMemory(char* mem, Py_ssize_t size, int flags)
    int PyBUF_READ
    int PyBUF_WRITE
    unsigned long PyThread_get_thread_ident()
    const char* PyUnicode_AsUTF8AndSize(object unicode, Py_ssize_t* size) except NULL

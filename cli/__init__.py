"""The ``autoglm`` command line: a thin client of :mod:`autoglm.core`."""

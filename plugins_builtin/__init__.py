"""The plugins shipped with autoglm, written exactly as a third party would write them.

Each module or package here uses only :mod:`autoglm.plugins`; the kernel loads
them by module path from :data:`autoglm.core.loading.DEFAULT_PLUGINS`.
"""

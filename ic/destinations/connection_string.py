"""Moved to :mod:`ic.connection_string` (neutral: the settings store uses it too). Old imports keep working."""
from ic.connection_string import *  # noqa: F401,F403
from ic.connection_string import __all__  # noqa: F401

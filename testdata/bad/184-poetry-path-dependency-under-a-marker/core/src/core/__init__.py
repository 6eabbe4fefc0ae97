"""pybase's poetry-path fixture: a path dependency of a path dependency."""

import iniconfig

NAME = f"core (iniconfig {iniconfig.__name__})"

"""pybase's bench fixture: a second service on the same numpy."""

__version__ = "0.1.0"

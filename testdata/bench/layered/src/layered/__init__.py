"""pybase's bench fixture for per-package venv layers."""

__version__ = "0.1.0"

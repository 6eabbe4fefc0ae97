"""pybase's fixture for a venv assembled from per-package layers."""

__version__ = "0.1.0"

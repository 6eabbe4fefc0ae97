"""A fixture service on a pybase tier."""

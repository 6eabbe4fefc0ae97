"""A fixture service whose dependency comes from a private index."""

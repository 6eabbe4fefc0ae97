"""A fixture service whose requirements include shared files."""

"""pybase's workspace fixture: an unrelated member."""

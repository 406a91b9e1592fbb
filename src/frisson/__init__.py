"""frisson."""

"""Filters: score documents into stats columns, then keep or drop each with a named reason."""

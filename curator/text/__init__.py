"""Text utilities shared by steps: byte views of string arrays, normalisation, word counts."""

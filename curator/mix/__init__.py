"""Mixing laws: runs tables, law fits, predictions, CMR and optimised mixtures (`curator mix`)."""

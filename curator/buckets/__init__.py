"""Tokenisation, Dataset Decomposition into 2^i-token buckets, curricula and packing baselines."""

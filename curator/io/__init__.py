"""Readers (JSONL, Parquet, Hugging Face datasets) and writers (sharded Parquet)."""

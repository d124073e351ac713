"""Stats tables as a product: DuckDB views over run folders, canned queries and reports."""

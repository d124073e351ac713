"""Step contract, YAML pipeline config, run folder, completion markers and executors."""

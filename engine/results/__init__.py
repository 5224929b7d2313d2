"""Results: whether rules reach their goals, measured against their holdout groups."""

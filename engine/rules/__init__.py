"""Rules: loading YAML safely and (to come) validating, compiling and evaluating them."""

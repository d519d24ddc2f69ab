"""Built-in rules: dependency."""

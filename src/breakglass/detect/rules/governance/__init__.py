"""Built-in rules: governance."""

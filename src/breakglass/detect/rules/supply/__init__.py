"""Built-in rules: supply."""

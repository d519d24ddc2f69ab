"""Built-in rules: access."""

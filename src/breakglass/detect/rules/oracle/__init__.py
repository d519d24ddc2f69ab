"""Built-in rules: oracle."""

"""Built-in rules: upgrade."""

"""Built-in rules: flow."""

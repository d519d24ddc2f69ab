"""Built-in rules: state."""

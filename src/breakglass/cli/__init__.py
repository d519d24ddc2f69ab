"""The ``breakglass`` command line: thin commands, each calling one service function."""

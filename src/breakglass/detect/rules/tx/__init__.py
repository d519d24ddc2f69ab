"""Rules about transactions as a whole: who sends them, to what, and whether they fail."""

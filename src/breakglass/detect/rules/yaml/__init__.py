"""Built-in rules: YAML rule kinds, written in the plan without Python.

``event``, ``call``, ``tx``, ``state`` and ``window`` take a signature and an expression
(docs/expressions.md) in their ``params``; ``common`` holds what they share: parsing
human-readable signatures, checking expressions and title templates.
"""

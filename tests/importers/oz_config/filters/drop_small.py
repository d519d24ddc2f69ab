"""Filters out (prints true for) transfers below the --below amount."""

import json
import sys

request = json.load(sys.stdin)
below = int(request["args"][request["args"].index("--below") + 1])
match = request["monitor_match"]["EVM"]
[event] = match["matched_on_args"]["events"]
value = next(int(arg["value"]) for arg in event["args"] if arg["name"] == "value")
print(f"transfer of {value}")
print("true" if value < below else "false")

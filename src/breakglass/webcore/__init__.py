"""What the REST API (``breakglass.api``) and the dashboard (``breakglass.web``) share, so
neither imports the other: the app's state and the permissions every route declares, API
tokens, the route table, the request and response bodies, approvals bound to an action, the
HTTP status of a refused operation and the delivery of notifications after a response.

``breakglass.server`` composes the two into one app.
"""

from __future__ import annotations

__all__: list[str] = []

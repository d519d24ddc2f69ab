"""Scale-out mode: NATS JetStream as the bus and the home of leases, PostgreSQL as the system
of record. See ``docs/architecture.md`` ("Scale-out")."""

from __future__ import annotations

from breakglass.cluster.bus import NatsBus
from breakglass.cluster.connect import ClusterError, connect
from breakglass.cluster.lease import Lease, LeaseLost

__all__ = ["ClusterError", "Lease", "LeaseLost", "NatsBus", "connect"]

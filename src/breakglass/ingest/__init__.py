"""Ingestion: a resilient block stream with checkpoints and reorg handling."""

from breakglass.ingest.checkpoint import CheckpointStore
from breakglass.ingest.events import (
    BadChainData,
    BlockAdded,
    BlockHeader,
    BlockRemoved,
    PendingTx,
    StreamEvent,
)
from breakglass.ingest.fetch import BlockFetcher, FetchSpec
from breakglass.ingest.heads import FollowHeads, PollHeads, WsHeads
from breakglass.ingest.reorg import Branch, ReorgTooDeep, resolve_branch
from breakglass.ingest.ring import CanonicalRing
from breakglass.ingest.stream import BlockStream, Sink, Subscriber

__all__ = [
    "BadChainData",
    "BlockAdded",
    "BlockFetcher",
    "BlockHeader",
    "BlockRemoved",
    "BlockStream",
    "Branch",
    "CanonicalRing",
    "CheckpointStore",
    "FetchSpec",
    "FollowHeads",
    "PendingTx",
    "PollHeads",
    "ReorgTooDeep",
    "Sink",
    "StreamEvent",
    "Subscriber",
    "WsHeads",
    "resolve_branch",
]

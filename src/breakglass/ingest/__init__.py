"""Ingestion: a resilient block stream with checkpoints and reorg handling."""

from breakglass.ingest.backfill import (
    BackfillCheckpoint,
    BackfillError,
    BackfillResult,
    BadBlockRange,
    UnknownChain,
    backfill,
    backfill_key,
)
from breakglass.ingest.checkpoint import (
    ChainIdentity,
    ChainIdMismatch,
    ChainMismatch,
    CheckpointStore,
    check_chain_identity,
    fetch_chain_identity,
)
from breakglass.ingest.events import (
    BadChainData,
    BlockAdded,
    BlockHeader,
    BlockRemoved,
    PendingTx,
    StreamEvent,
)
from breakglass.ingest.fetch import BlockFetcher, FetchSpec
from breakglass.ingest.heads import FollowHeads, PollHeads, QuorumHeads, WsHeads
from breakglass.ingest.pending import PendingTxSource
from breakglass.ingest.reorg import Branch, ReorgTooDeep, resolve_branch
from breakglass.ingest.ring import CanonicalRing
from breakglass.ingest.stream import BlockStream, Sink, Subscriber

__all__ = [
    "BackfillCheckpoint",
    "BackfillError",
    "BackfillResult",
    "BadBlockRange",
    "BadChainData",
    "BlockAdded",
    "BlockFetcher",
    "BlockHeader",
    "BlockRemoved",
    "BlockStream",
    "Branch",
    "CanonicalRing",
    "ChainIdMismatch",
    "ChainIdentity",
    "ChainMismatch",
    "CheckpointStore",
    "FetchSpec",
    "FollowHeads",
    "PendingTx",
    "PendingTxSource",
    "PollHeads",
    "QuorumHeads",
    "ReorgTooDeep",
    "Sink",
    "StreamEvent",
    "Subscriber",
    "UnknownChain",
    "WsHeads",
    "backfill",
    "backfill_key",
    "check_chain_identity",
    "fetch_chain_identity",
    "resolve_branch",
]

"""A node's protocol core: :class:`NodeCore` and the effects its drivers perform."""

from .effects import (
    CloseStream,
    CustodyDropped,
    CustodyRestored,
    FetchEnded,
    FetchServed,
    HandoffEnded,
    LaunchEnded,
    LoadShard,
    NodeEffect,
    OpenStream,
    PersistReceipt,
    PublishLocator,
    ResetStream,
    SendData,
    StoreShard,
    ThreatChanged,
    WipeShard,
)
from .machine import NodeCore, NodeParams

__all__ = [
    "CloseStream",
    "CustodyDropped",
    "CustodyRestored",
    "FetchEnded",
    "FetchServed",
    "HandoffEnded",
    "LaunchEnded",
    "LoadShard",
    "NodeCore",
    "NodeEffect",
    "NodeParams",
    "OpenStream",
    "PersistReceipt",
    "PublishLocator",
    "ResetStream",
    "SendData",
    "StoreShard",
    "ThreatChanged",
    "WipeShard",
]

"""The owner's side of a node: :class:`OwnerCore` (put, get, check, repair) and its effects."""

from .effects import (
    Audit,
    Cancel,
    CheckDone,
    Fetch,
    GetDone,
    KeepDone,
    Launch,
    Lookup,
    NotPlaced,
    OpFailed,
    OwnerEffect,
    Probe,
    Progress,
    PublishPointer,
    PutDone,
    ReadLocal,
    Repaired,
    RepairImpossible,
    SaveOwned,
)
from .evidence import Evidence, PeerEvidence
from .keep import default_repair_delay
from .machine import OwnerCore, OwnerParams, OwnerView
from .records import OwnedWanderer
from .repair import LAUNCH_ATTEMPTS, STALE_CHECKS, RepairTracker, pick_carriers

__all__ = [
    "LAUNCH_ATTEMPTS",
    "STALE_CHECKS",
    "Audit",
    "Cancel",
    "CheckDone",
    "Evidence",
    "Fetch",
    "GetDone",
    "KeepDone",
    "Launch",
    "Lookup",
    "NotPlaced",
    "OpFailed",
    "OwnedWanderer",
    "OwnerCore",
    "OwnerEffect",
    "OwnerParams",
    "OwnerView",
    "PeerEvidence",
    "Probe",
    "Progress",
    "PublishPointer",
    "PutDone",
    "ReadLocal",
    "RepairImpossible",
    "RepairTracker",
    "Repaired",
    "SaveOwned",
    "default_repair_delay",
    "pick_carriers",
]

"""Node settings: defaults < config file (TOML) < ``WDP_*`` environment < command line.

Every mistake becomes a :class:`SettingsError` whose message says what to fix,
so the CLI can print one line instead of a traceback.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from wdp.core.errors import WdpError
from wdp.core.limits import MAX_SEGMENT_SIZE, MIN_SEGMENT_SIZE, SEGMENT_SIZE

from .addrs import parse_announce
from .hostport import parse_hostport

DEFAULT_LISTEN = ["/ip4/0.0.0.0/tcp/4001"]
DEFAULT_DATA_DIR = Path.home() / ".wdp"
_UNITS = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "kib": 1 << 10, "m": 10**6, "mb": 10**6,
          "mib": 1 << 20, "g": 10**9, "gb": 10**9, "gib": 1 << 30}  # fmt: skip


class SettingsError(WdpError):
    """A setting is wrong; the message says which and how to fix it."""


def format_size(size: int) -> str:
    """``1536`` -> ``"1.5 KiB"``: what a user reads."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def parse_size(value: int | str) -> int:
    """``1073741824``, ``"512MiB"``, ``"2 GB"`` -> bytes."""
    if isinstance(value, int):
        return value
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", value)
    if m is None or m.group(2).lower() not in _UNITS:
        raise ValueError(f"{value!r} is not a size (examples: 1073741824, 512MiB, 2GB)")
    return int(float(m.group(1)) * _UNITS[m.group(2).lower()])


class Settings(BaseModel):
    """What ``wdp-node`` runs with (see ``wdp-node --help``)."""

    model_config = ConfigDict(extra="forbid")

    listen: list[str] = Field(default_factory=lambda: list(DEFAULT_LISTEN))
    bootstrap: list[str] = Field(default_factory=list)
    # What the node advertises instead of its listen addresses (NAT, published ports).
    announce: list[str] = Field(default_factory=list)
    data_dir: Path = DEFAULT_DATA_DIR
    epoch: float = Field(600.0, ge=1, le=7 * 24 * 3600)
    store: Literal["memory", "disk"] = "memory"
    k: int = Field(3, ge=1, le=256)  # shards needed, for wanderers put through this node
    n: int = Field(8, ge=1, le=256)  # shards made
    capacity: int = Field(1 << 30, ge=0)
    # A put larger than this is stored as segments of this size (protocols section 19).
    segment_size: int = Field(SEGMENT_SIZE, ge=MIN_SEGMENT_SIZE, le=MAX_SEGMENT_SIZE)
    # Bytes one put may make the swarm move a day (every shard hops every epoch); a put
    # over it is refused with the epoch that would fit.
    daily_move_budget: int = Field(1 << 40, ge=1)
    metrics: str | None = None  # "127.0.0.1:9464" to serve Prometheus metrics
    ping_interval: float = Field(5.0, gt=0)
    ping_timeout: float = Field(5.0, gt=0)
    discovery_interval: float = Field(30.0, gt=0)
    repair_interval: float = Field(300.0, gt=0)  # at most this long between repair checks
    # Seconds before an unanswered audit is asked again, once, before it counts as lost.
    audit_retry_delay: float = Field(10.0, gt=0, le=3600)
    # Seconds a peer must be known (and have answered a ping) before its loss is evidence.
    threat_min_age: float = Field(300.0, ge=0)
    # The shortest epoch this node honours: a shard whose wanderer asks for less
    # (the manifest allows 1 s) stays at least this long.
    min_epoch: float = Field(60.0, ge=1, le=7 * 24 * 3600)
    # An unproven peer gets one TTL hop from this node until it is seen handing shards
    # on (CarrierParams.probation; off until the durability study has judged it).
    probation: bool = False
    # After each TTL hop, audit the peer that took the shard once, at a random time in its
    # epoch; one that fails gets no more shards from this node for a day
    # (CarrierParams.spot_audits; off until the durability study has judged it).
    spot_audits: bool = False
    # What other peers may take of this node (README "Limits"): inbound streams,
    # bytes held in partial frames, bytes of shards arriving at once.
    max_streams: int = Field(256, ge=1)
    max_streams_per_peer: int = Field(16, ge=1)
    max_partial_frames: int = Field(64 << 20, ge=2 << 20)
    max_partial_frames_per_peer: int = Field(16 << 20, ge=2 << 20)
    stream_opens_per_second: float = Field(20.0, gt=0)  # per peer, with a burst of
    stream_open_burst: int = Field(40, ge=1)
    max_inflight: int = Field(256 << 20, ge=128 << 20)
    max_inflight_per_peer: int = Field(128 << 20, ge=128 << 20)
    launch_share: float = Field(0.25, gt=0, le=1)  # of capacity, for shards one peer launched
    kad_streams: int = Field(64, ge=1)  # inbound kad streams served at once
    kad_streams_per_peer: int = Field(4, ge=1)
    kad_streams_per_ip: int = Field(32, ge=1)
    kad_request_timeout: float = Field(10.0, gt=0)
    kad_records: int = Field(50_000, ge=1)  # records stored for others
    kad_records_per_peer: int = Field(2_000, ge=1)
    kad_records_per_ip: int = Field(8_000, ge=1)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    # The local API on TCP too ("127.0.0.1:5080"), each request carrying a token:
    # api_token, or else the one the node keeps in <data_dir>/api.token.
    api_listen: str | None = None
    api_token: str | None = Field(None, min_length=16)
    api_allow_remote: bool = False  # needed for a non-loopback api_listen (containers)
    # The web dashboard ("127.0.0.1:8080"), behind the same token; api_allow_remote is
    # needed off loopback too.
    dashboard: str | None = None

    @model_validator(mode="after")
    def _k_at_most_n(self) -> Settings:
        if self.k > self.n:
            raise ValueError(f"k={self.k} must not exceed n={self.n}")
        return self

    @model_validator(mode="after")
    def _api_on_loopback(self) -> Settings:
        self._loopback_unless_allowed(
            "api_listen", self.api_listen, "127.0.0.1:5080",
            "anyone who reaches it with the token controls this node",
        )  # fmt: skip
        self._loopback_unless_allowed(
            "dashboard", self.dashboard, "127.0.0.1:8080",
            "it shows who this node's peers are and what it carries",
        )  # fmt: skip
        return self

    def _loopback_unless_allowed(
        self, name: str, value: str | None, example: str, why: str
    ) -> None:
        """A HOST:PORT that serves the token-guarded API or dashboard: loopback, or allowed."""
        if value is None:
            return
        try:
            host, _port = parse_hostport(value, example=example)
        except ValueError as exc:
            raise ValueError(f"{name} {exc}") from None
        if not self.api_allow_remote and not _is_loopback(host):
            raise ValueError(
                f"{name} {value} is not a loopback address: {why}; use 127.0.0.1, or set "
                "api_allow_remote (--api-allow-remote) if the port is shielded (e.g. a "
                "container port published on the host's 127.0.0.1 only)"
            )

    @field_validator("metrics")
    @classmethod
    def _metrics_address(cls, value: str | None) -> str | None:
        if value is not None:
            parse_hostport(value, example="127.0.0.1:9464")  # ValueError says what to write
        return value

    @field_validator(
        "capacity",
        "segment_size",
        "daily_move_budget",
        "max_partial_frames",
        "max_partial_frames_per_peer",
        "max_inflight",
        "max_inflight_per_peer",
        mode="before",
    )
    @classmethod
    def _size(cls, value: Any) -> Any:
        return parse_size(value) if isinstance(value, str) else value

    @field_validator("listen", "bootstrap", "announce", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [v.strip() for v in value.split(",") if v.strip()]
        return value

    @field_validator("announce")
    @classmethod
    def _dialable(cls, value: list[str]) -> list[str]:
        for addr in value:
            parse_announce(addr)  # ValueError says what to write
        return value


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


ENV_PREFIX = "WDP_"
_FIELDS = set(Settings.model_fields)


def _from_env(environ: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX):
            continue
        field = name[len(ENV_PREFIX) :].lower()
        if field in _FIELDS:
            out[field] = value
    return out


def _from_file(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise SettingsError(f"config file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(f"cannot read config file {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"config file {path} is not valid TOML: {exc}") from None
    return {k.replace("-", "_"): v for k, v in data.items()}


def load_settings(
    config_file: Path | None,
    overrides: dict[str, Any],
    environ: dict[str, str] | None = None,
) -> Settings:
    """Merge the sources; ``overrides`` are command-line values (None = not given)."""
    merged: dict[str, Any] = {}
    if config_file is not None:
        merged.update(_from_file(config_file))
    merged.update(_from_env(dict(os.environ) if environ is None else environ))
    merged.update({k: v for k, v in overrides.items() if v not in (None, [], ())})
    try:
        return Settings(**merged)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'settings'}: {_plain(err['msg'])}"
            for err in exc.errors()
        )
        raise SettingsError(f"invalid settings: {problems}") from None


def _plain(message: str) -> str:
    """A validator's own message without pydantic's ``Value error, `` in front."""
    return message.removeprefix("Value error, ")

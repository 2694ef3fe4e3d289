"""Settings and identity: precedence, clear errors, file permissions."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from wdp.node.identity import IdentityError, load_or_create_identity
from wdp.node.settings import SettingsError, load_settings, parse_size


def test_precedence_file_then_env_then_flags(tmp_path: Path) -> None:
    cfg = tmp_path / "node.toml"
    cfg.write_text(
        'epoch = 30\nstore = "disk"\ncapacity = "2GiB"\nlisten = ["/ip4/127.0.0.1/tcp/1"]\n'
    )
    env = {
        "WDP_EPOCH": "45",
        "WDP_BOOTSTRAP": "/ip4/127.0.0.1/tcp/2/p2p/x, /ip4/127.0.0.1/tcp/3/p2p/y",
    }
    s = load_settings(cfg, {"epoch": None, "store": "memory"}, environ=env)
    assert s.epoch == 45 and s.store == "memory" and s.capacity == 2 << 30
    assert s.listen == ["/ip4/127.0.0.1/tcp/1"]
    assert s.bootstrap == ["/ip4/127.0.0.1/tcp/2/p2p/x", "/ip4/127.0.0.1/tcp/3/p2p/y"]


@pytest.mark.parametrize(
    "content, needle",
    [
        ("epoch = ", "not valid TOML"),
        ("store = 'tape'", "store"),
        ("epoch = 0", "epoch"),
        ("colour = 'blue'", "colour"),
        ("max_inflight_per_peer = '64MiB'", "max_inflight_per_peer"),  # below one 128 MiB shard
        ("max_streams_per_peer = 0", "max_streams_per_peer"),
    ],
)
def test_bad_config_gives_one_clear_error(tmp_path: Path, content: str, needle: str) -> None:
    cfg = tmp_path / "node.toml"
    cfg.write_text(content)
    with pytest.raises(SettingsError, match=needle) as exc:
        load_settings(cfg, {}, environ={})
    assert "\n" not in str(exc.value)


def test_limits_are_settings_with_sizes(tmp_path: Path) -> None:
    env = {"WDP_MAX_PARTIAL_FRAMES": "32MiB", "WDP_MAX_STREAMS_PER_PEER": "8"}
    s = load_settings(None, {}, environ=env)
    assert s.max_partial_frames == 32 << 20 and s.max_streams_per_peer == 8
    assert s.max_inflight == 256 << 20 and s.kad_records_per_peer == 2_000  # defaults


def test_audit_retry_delay_is_a_setting() -> None:
    assert load_settings(None, {}, environ={}).audit_retry_delay == 10.0
    env = {"WDP_AUDIT_RETRY_DELAY": "1.5"}
    assert load_settings(None, {}, environ=env).audit_retry_delay == 1.5
    with pytest.raises(SettingsError):
        load_settings(None, {}, environ={"WDP_AUDIT_RETRY_DELAY": "0"})


def test_probation_is_a_setting_and_off_by_default() -> None:
    assert load_settings(None, {}, environ={}).probation is False
    assert load_settings(None, {}, environ={"WDP_PROBATION": "true"}).probation is True


def test_spot_audits_are_a_setting_and_off_by_default() -> None:
    assert load_settings(None, {}, environ={}).spot_audits is False
    assert load_settings(None, {}, environ={"WDP_SPOT_AUDITS": "1"}).spot_audits is True


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="does not exist"):
        load_settings(tmp_path / "nope.toml", {}, environ={})


def test_sizes() -> None:
    assert parse_size("512MiB") == 512 << 20 and parse_size("2 GB") == 2 * 10**9
    with pytest.raises(ValueError):
        parse_size("lots")


def test_identity_is_created_once_with_mode_0600(tmp_path: Path) -> None:
    seed = load_or_create_identity(tmp_path / "d")
    path = tmp_path / "d" / "identity.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_identity(tmp_path / "d") == seed and len(seed) == 32


def test_identity_readable_by_others_is_refused(tmp_path: Path) -> None:
    load_or_create_identity(tmp_path)
    os.chmod(tmp_path / "identity.key", 0o644)
    with pytest.raises(IdentityError, match="chmod 600"):
        load_or_create_identity(tmp_path)


def test_corrupt_identity_is_refused(tmp_path: Path) -> None:
    (tmp_path / "identity.key").write_text("zz")
    os.chmod(tmp_path / "identity.key", 0o600)
    with pytest.raises(IdentityError, match="64-hex-digit"):
        load_or_create_identity(tmp_path)


def test_announce_from_file_env_and_flags(tmp_path: Path) -> None:
    cfg = tmp_path / "node.toml"
    cfg.write_text('announce = ["/ip4/203.0.113.5/tcp/4001"]\n')
    assert load_settings(cfg, {}, environ={}).announce == ["/ip4/203.0.113.5/tcp/4001"]
    env = {"WDP_ANNOUNCE": "/ip4/203.0.113.6/tcp/1, /dns4/n.example.org/tcp/2/ws"}
    s = load_settings(cfg, {}, environ=env)
    assert s.announce == ["/ip4/203.0.113.6/tcp/1", "/dns4/n.example.org/tcp/2/ws"]
    s = load_settings(cfg, {"announce": ["/ip6/2001:db8::1/tcp/3"]}, environ=env)
    assert s.announce == ["/ip6/2001:db8::1/tcp/3"]
    assert load_settings(None, {}, environ={}).announce == []


@pytest.mark.parametrize(
    "value, needle",
    [("203.0.113.5:4001", "not a multiaddr"), ("/ip4/0.0.0.0/tcp/4001", "wildcard")],
)
def test_bad_announce_is_one_line_saying_what_to_write(value: str, needle: str) -> None:
    with pytest.raises(SettingsError, match=needle) as exc:
        load_settings(None, {"announce": [value]}, environ={})
    message = str(exc.value)
    assert "\n" not in message and "announce" in message and "/ip4/203.0.113.5/tcp/4001" in message

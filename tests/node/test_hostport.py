"""The one HOST:PORT parser behind --metrics, --api-listen and the client's --api."""

from __future__ import annotations

import pytest

from wdp.client.api import ApiClient, ClientError
from wdp.node.hostport import format_hostport, parse_hostport
from wdp.node.settings import SettingsError, load_settings


@pytest.mark.parametrize(
    "value, expected",
    [
        ("127.0.0.1:5080", ("127.0.0.1", 5080)),
        ("localhost:9464", ("localhost", 9464)),
        ("node-1.example.org:1", ("node-1.example.org", 1)),
        ("0.0.0.0:65535", ("0.0.0.0", 65535)),
        ("[::1]:5080", ("::1", 5080)),
        ("[2001:db8::7]:4001", ("2001:db8::7", 4001)),
        ("127.0.0.1:0", ("127.0.0.1", 0)),  # any free port, for a listener
    ],
)
def test_good_addresses(value: str, expected: tuple[str, int]) -> None:
    assert parse_hostport(value) == expected
    assert format_hostport(*expected) == value


@pytest.mark.parametrize(
    "value",
    [
        "",
        "5080",
        ":5080",  # no host
        "127.0.0.1",
        "127.0.0.1:",
        "127.0.0.1:http",
        "127.0.0.1:65536",
        "127.0.0.1:-1",
        "127.0.0.1:+80",
        "127.0.0.1: 80",
        "::1:5080",  # IPv6 needs brackets
        "[::1]",
        "[::1:5080",
        "[127.0.0.1]:5080",  # brackets are for IPv6 only
        "[]:5080",
        "http://127.0.0.1:5080",
        "a host:5080",
    ],
)
def test_bad_addresses_say_the_form(value: str) -> None:
    with pytest.raises(ValueError) as exc:
        parse_hostport(value)
    message = str(exc.value)
    assert message.startswith(f"{value!r} must be HOST:PORT, e.g. 127.0.0.1:5080")
    assert "[::1]:PORT for IPv6" in message and "\n" not in message


def test_port_zero_only_for_listening() -> None:
    assert parse_hostport("[::1]:0") == ("::1", 0)
    with pytest.raises(ValueError, match="port 1-65535"):
        parse_hostport("127.0.0.1:0", listening=False)


def test_every_option_uses_it_with_its_name_in_front() -> None:
    with pytest.raises(
        SettingsError, match=r"metrics: '9464x' must be HOST:PORT, e\.g\. 127\.0\.0\.1:9464"
    ):
        load_settings(None, {"metrics": "9464x"}, environ={})
    with pytest.raises(SettingsError, match=r"api_listen '::1:5080' must be HOST:PORT"):
        load_settings(None, {"api_listen": "::1:5080"}, environ={})
    with pytest.raises(ClientError, match=r"--api '127\.0\.0\.1:0' must be HOST:PORT"):
        ApiClient(tcp="127.0.0.1:0", token="t" * 20)
    assert ApiClient(tcp="[::1]:5080", token="t" * 20).address == ("::1", 5080)
    s = load_settings(None, {"metrics": "[::1]:9464", "api_listen": "[::1]:5080"}, environ={})
    assert (s.metrics, s.api_listen) == ("[::1]:9464", "[::1]:5080")

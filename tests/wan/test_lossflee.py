"""The loss-then-flee run's bookkeeping, without a network."""

from __future__ import annotations

import pytest

from wdp.ops.wan.lossflee import FleeReport, main, node_keys


def test_each_nodes_key_is_the_one_its_own_status_does_not_list() -> None:
    statuses = [
        {"peers": [{"peer": "bb"}, {"peer": "cc"}]},
        {"peers": [{"peer": "aa"}, {"peer": "cc"}]},
        {"peers": [{"peer": "aa"}, {"peer": "bb"}]},
    ]
    assert node_keys(statuses) == {"aa": 0, "bb": 1, "cc": 2}


def test_the_report_says_where_the_flights_went() -> None:
    report = FleeReport("x", "eu", 0.3, 120.0, shards=15, in_lossy_at_loss=8,
                        from_lossy={"eu": 0, "us": 2, "asia": 1}, first_flight_after=42.0,
                        in_lossy_at_end=5)  # fmt: skip
    assert report.lines()[1] == (
        "THREAT hops out of eu: 3 (eu 0, us 2, asia 1); into it: 0; first after 42 s; "
        "5 shards still there at the end"
    )


def test_a_node_source_without_the_node_package_is_one_line(tmp_path, capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--node-src", str(tmp_path)])
    assert exit_.value.code == 2
    assert "holds no wdp/node package" in capsys.readouterr().err

"""The node's web dashboard: peers on a latency map, the threat level and what
raised it, the shards held with their custody chains, hops in and out, and the
wanderers this node owns or keeps (``--dashboard HOST:PORT``, opt-in).

Plain HTML, CSS and JavaScript modules served by :mod:`.server`; the data is
:func:`wdp.node.status.dashboard_state`, pushed to each viewer as server-sent
events over one streaming request that carries the API token."""

from .server import Dashboard, DashboardError

__all__ = ["Dashboard", "DashboardError"]

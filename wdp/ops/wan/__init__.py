"""A WAN on one machine: real ``wdp-node`` processes in regions with shaped links.

Each node runs in its own network namespace, linked by a veth pair to one
router namespace. This kernel has no ``netem`` (see the field notes), so the
delay comes from userspace: policy routing in the router sends every packet
between nodes into a TUN device, where :mod:`.router` holds it for its
region pair's one-way delay (with jitter, flows kept in order) and drops it
with a region's loss probability, then writes it back for the kernel to
forward. The nodes are unmodified ``wdp-node`` processes; nothing in the node
knows it is being shaped. :mod:`.geography` is the layout (pure data),
:mod:`.netns` builds and removes it, :mod:`.testbed` runs the nodes.
"""

"""Swarm simulator: the node and owner cores (wdp.core.node, wdp.core.owner) in virtual time.

``wdp.sim.world.simulate(scenario, policy, seed)`` runs one scenario;
``wdp.sim.study`` runs the durability study; ``wdp.sim.cli`` is ``wdp sim``.
"""

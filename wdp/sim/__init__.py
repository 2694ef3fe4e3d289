"""Swarm simulator: the node's own protocol core (wdp.core), driven in virtual time.

``wdp.sim.world.simulate(scenario, policy, seed)`` runs one scenario;
``wdp.sim.study`` runs the durability study; ``wdp.sim.cli`` is ``wdp sim``.
"""

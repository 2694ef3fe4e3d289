//! The libp2p driver of the WDP carrier: swarm, DHT records, handoff streams, test interface.

pub mod audit;
pub mod behaviour;
pub mod control;
pub mod events;
pub mod fetch;
pub mod handoffs;
pub mod keyfile;
pub mod locator;
pub mod peer;

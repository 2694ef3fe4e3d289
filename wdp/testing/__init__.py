"""WDP's fakes, for its own tests and anyone building on it (as ``trio.testing`` is trio's).

* :mod:`wdp.testing.grid`: an in-process grid of real node and owner cores
  over a perfect link, in virtual time (no sockets, no processes);
* :mod:`wdp.testing.clock`: a clock tests move by hand;
* :mod:`wdp.testing.streams`: in-memory streams with py-libp2p's semantics
  (short reads, ``StreamEOF``-like end, reset), for the daemon's stream driver.
"""

"""WDP: Wanderer Data Preservation."""

__version__ = "0.1.0"

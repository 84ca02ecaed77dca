"""Clients and parsers for the upstream sources, one module per source."""

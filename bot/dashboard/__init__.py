"""The Bappeda dashboard: a read-only web page on SASI's aiohttp server, under ``/dasbor/``."""

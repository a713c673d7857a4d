"""The signed push of each digest to Bappeda's systems (``SASI_BAPPEDA_PUSH_URL``)."""

"""Upload checks and responses of cxr-cls's predict route (the kit's)."""

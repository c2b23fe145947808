"""Upload checks and response bodies of cxr-cls's predict route (the classification kit's)."""

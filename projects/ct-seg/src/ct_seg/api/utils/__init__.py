"""Upload checks and responses of ct-seg's predict route (the kit's)."""

"""Request validation and response building for ct-seg's predict route (the kit's)."""

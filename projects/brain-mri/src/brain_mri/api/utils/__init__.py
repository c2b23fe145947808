"""Upload checks and responses of brain-mri's predict route (the kit's)."""

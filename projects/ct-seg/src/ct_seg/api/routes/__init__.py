"""Routes of the ct-seg server: shared operations routes, its prediction."""

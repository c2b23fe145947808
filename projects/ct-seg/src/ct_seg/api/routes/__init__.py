"""Routes of the ct-seg server: shared operations routes and ct-seg's prediction."""

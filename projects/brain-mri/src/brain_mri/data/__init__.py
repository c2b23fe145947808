"""Where brain-mri's cases come from: a configured dataset, or seeded brain-tumour phantoms."""

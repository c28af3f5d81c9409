"""`deepthink eval`: review cases with seeded defects, run under several configurations, scored."""

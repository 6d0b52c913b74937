"""Processing algorithms: thin wrappers that call ``core``."""

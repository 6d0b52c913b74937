"""Processing provider of the Coreg plugin."""

"""GUI of the Coreg plugin: the Coregister panel, its menu entry, toolbar icon and dock."""

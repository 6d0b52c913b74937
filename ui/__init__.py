"""GUI of the Coreg plugin: the Coregister panel, its menu entry, toolbar icon and dock."""

#: The plugin's menu, under Raster: every Coreg menu entry goes here.
MENU = "&Coreg"

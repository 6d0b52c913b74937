"""Non-rigid alignment: a grid of tie points with a smooth field, or dense optical flow
(`local.align_local`)."""

"""STAC items as inputs."""

"""Offline validation against the vendored official STAC 1.0.0 schemas (tests/stac_schemas)."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema

SCHEMAS = Path(__file__).resolve().parent / "stac_schemas"


def validator(name: str) -> jsonschema.Draft7Validator:
    """A validator of the schema file ``name`` (item.json, collection.json)."""
    store = {}
    for path in SCHEMAS.glob("*.json"):
        schema = json.loads(path.read_text())
        store[schema["$id"].rstrip("#")] = schema
    schema = json.loads((SCHEMAS / name).read_text())
    try:  # jsonschema >= 4.18 (Debian 13) resolves references through a registry
        from referencing import Registry, Resource
        from referencing.jsonschema import DRAFT7
    except ImportError:  # jsonschema 4.10 (Debian 12): RefResolver
        resolver = jsonschema.RefResolver(schema["$id"], schema, store=store)
        return jsonschema.Draft7Validator(schema, resolver=resolver)
    registry = Registry().with_resources(
        (uri, Resource.from_contents(contents, default_specification=DRAFT7))
        for uri, contents in store.items())
    return jsonschema.Draft7Validator(schema, registry=registry)

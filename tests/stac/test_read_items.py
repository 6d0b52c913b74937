"""Items read with pystac (core/stac/parse.py): an undated item is read (pystac alone
refuses it), and every other way a document is not an item is said in words."""

from __future__ import annotations

import json

import pytest
import stac_fixture

from coreg.core.errors import CoregInputError
from coreg.core.stac.search import search_items
from coreg.core.stac.stac import read_item

UNDATED = "undated-collection"


def _undated(site) -> dict:
    """The source item, its date left out, in a collection of its own."""
    document = json.loads((site["data"].root / "source" / "item.json").read_text())
    del document["properties"]["datetime"]
    return {**document, "id": "undated", "collection": UNDATED}


def test_pystac_alone_refuses_an_undated_item(stac_site):
    import pystac

    with pytest.raises(pystac.STACError, match="datetime"):
        pystac.Item.from_dict(_undated(stac_site))


def test_an_undated_item_is_read_from_a_file(stac_site, tmp_path):
    path = tmp_path / "undated.json"
    path.write_text(json.dumps(_undated(stac_site)))
    item = read_item(path, allow_remote=True)
    assert item.id == "undated" and "datetime" not in item.properties
    assert item.asset("B08").key == "nir" and item.asset("nir").band_of("B08") == 1
    assert item.asset("nir").gsd == 20.0 and item.properties["eo:cloud_cover"] == 3.0


def test_an_undated_item_is_found_and_read_in_a_stac_api(stac_site, tmp_path):
    collection = json.loads((stac_site["data"].root / "collection.json").read_text())
    (tmp_path / "collection.json").write_text(json.dumps({**collection, "id": UNDATED}))
    (tmp_path / "item.json").write_text(json.dumps(_undated(stac_site)))
    with stac_fixture.stac_api(tmp_path / "collection.json", tmp_path / "item.json") as api:
        hits = search_items(api, collections=[UNDATED])
        assert [(h.id, h.datetime) for h in hits] == [("undated", "")]
        item = read_item(hits[0].url, allow_remote=True)
    assert item.id == "undated" and item.collection == UNDATED
    assert item.asset("nir").url == f"{stac_site['files']}/source/nir.tif"


def test_a_collection_or_a_search_result_is_no_item(stac_site):
    api = stac_site["api"]
    with pytest.raises(CoregInputError, match="STAC collection .give one of its items"):
        read_item(f"{api}/collections/{stac_fixture.COLLECTION}", allow_remote=True)
    with pytest.raises(CoregInputError, match="FeatureCollection .a search result"):
        read_item(f"{api}/collections/{stac_fixture.COLLECTION}/items", allow_remote=True)


@pytest.mark.parametrize(("edit", "words"), [
    ({"properties": {"datetime": "yesterday"}}, "its datetime 'yesterday' is not an RFC 3339"),
    ({"properties": {"datetime": None, "start_datetime": "2020-13-45"}},
     "its start_datetime '2020-13-45' is not an RFC 3339"),
    ({"assets": {"nir": {"type": "image/tiff"}}}, "Asset 'nir' of STAC item .* has no href"),
    ({"assets": {"nir": 3}}, "Asset 'nir' of STAC item .* is not a JSON object"),
    ({"assets": []}, "its assets are missing or not a JSON object"),
    ({"properties": None}, "its properties are missing"),
    ({"type": "Topology"}, "document of type 'Topology'"),
])
def test_each_malformed_item_is_a_clear_error(stac_site, tmp_path, edit, words):
    document = {**json.loads((stac_site["data"].root / "source" / "item.json").read_text()),
                **edit}
    path = tmp_path / "item.json"
    path.write_text(json.dumps(document))
    with pytest.raises(CoregInputError, match=words):
        read_item(path, allow_remote=True)

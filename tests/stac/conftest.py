"""The STAC servers of these tests: nginx serving the items and their COG assets, and
rustac's STAC API holding the same items, both on 127.0.0.1 for the whole session."""

from __future__ import annotations

import pytest
import stac_fixture


@pytest.fixture(scope="session")
def stac_site(tmp_path_factory, shared_data):
    """{"data": StacData, "files": nginx URL, "log": access log, "api": API URL}."""
    folder = tmp_path_factory.mktemp("stac-site")
    port = stac_fixture.free_port()
    data = stac_fixture.build_stac(folder / "data", f"http://127.0.0.1:{port}")
    with stac_fixture.file_server(data.root, folder / "nginx", port) as (url, log), \
            stac_fixture.stac_api(data.root / "collection.json",
                                  data.root / "reference" / "item.json",
                                  data.root / "source" / "item.json") as api:
        yield {"data": data, "files": url, "log": log, "api": api}

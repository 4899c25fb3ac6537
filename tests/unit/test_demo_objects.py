"""Social objects for the demo come from the map's own OSM data: tags → object type, name,
address; nodes and ways (at their centroid) of .osm and .osm.gz files."""

import gzip

from socialtaxi.demo import _osm_objects
from socialtaxi.demo_data import social_object_from_tags

OSM = """<?xml version="1.0" encoding="UTF-8"?>
<osm version="1" generator="osmnx">
  <node id="1" lat="60.05" lon="30.44">
    <tag k="amenity" v="clinic"/><tag k="name" v="Поликлиника Мурино"/>
    <tag k="addr:street" v="Оборонная улица"/><tag k="addr:housenumber" v="32"/>
  </node>
  <node id="2" lat="60.051" lon="30.441"><tag k="amenity" v="pharmacy"/></node>
  <node id="3" lat="60.052" lon="30.45"/>
  <node id="4" lat="60.054" lon="30.45"/>
  <node id="5" lat="60.054" lon="30.46"/>
  <way id="9"><nd ref="3"/><nd ref="4"/><nd ref="5"/>
    <tag k="building" v="yes"/><tag k="name" v="МФЦ «Мои документы»"/>
  </way>
  <way id="10"><nd ref="3"/><nd ref="4"/><tag k="highway" v="residential"/>
    <tag k="name" v="Оборонная улица"/></way>
</osm>
"""


def test_tags_give_type_name_and_address():
    assert social_object_from_tags(
        {
            "amenity": "hospital",
            "name": "Больница",
            "addr:street": "Ленина",
            "addr:housenumber": "1",
        }
    ) == ("medical", "Больница", "Ленина, д. 1")
    assert social_object_from_tags({"amenity": "pharmacy"}) is None  # no name: not bookable
    assert social_object_from_tags({"highway": "residential", "name": "ул. Новая"}) is None
    assert social_object_from_tags({"name": "Центр амбулаторного диализа"})[0] == "hemodialysis"
    assert social_object_from_tags({"amenity": "post_office", "name": "Почта"})[0] == "social_fund"


def test_objects_from_nodes_and_ways_of_plain_and_gzipped_files(tmp_path):
    plain = tmp_path / "m.osm"
    plain.write_text(OSM, encoding="utf-8")
    packed = tmp_path / "m.osm.gz"
    packed.write_bytes(gzip.compress(OSM.encode()))
    for path in (plain, packed):
        objs = _osm_objects(path)
        assert [(o["object_type"], o["name"]) for o in objs] == [
            ("medical", "Поликлиника Мурино"),
            ("mfc", "МФЦ «Мои документы»"),
        ]
        assert objs[0]["address"] == "Оборонная улица, д. 32"
        assert objs[1]["lat"] == (60.052 + 60.054 + 60.054) / 3


def test_the_shipped_murino_map_has_no_objects_so_the_demo_invents_them():
    from simulators import DEFAULT_MAP

    assert DEFAULT_MAP.is_file()
    assert _osm_objects(DEFAULT_MAP) == []

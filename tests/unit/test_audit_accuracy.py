"""The per-rule accuracy targets on a small seeded labelled set (``bench/audit_accuracy.py``
builds it: real Murino roads, σ 5–20 m, a fix every 1–30 s, every violation and hard negative),
audited through the ``audit check`` path with the real map matcher."""

from __future__ import annotations

import pytest

from bench.audit_accuracy import KINDS, TARGET_P, TARGET_R, audit_document, labelled_set, score


@pytest.mark.slow
def test_every_rule_meets_precision_and_recall_targets(shared_data, rules):
    from config.settings import Settings
    from routing import load_graph
    from routing.matching import match_track

    graph = load_graph(
        shared_data / "osm" / "murino_lo_osmnx.osm", cache_dir=Settings().map_cache_dir
    )
    doc = labelled_set(graph, rules, trips=110, seed=5, map_name="murino_lo_osmnx.osm")
    assert {t["kind"] for t in doc["trips"]} >= {k for k, _, _ in KINDS}
    flagged = audit_document(doc, graph=graph, rules=rules, matcher=match_track)
    ids = [rid for _, rid, _ in KINDS if rid]
    scores = score(doc, flagged, sorted(set(ids)))
    for rule, s in scores.items():
        assert s.tp >= 1, rule
        assert s.precision >= TARGET_P, (rule, s)
        assert s.recall >= TARGET_R, (rule, s)


@pytest.mark.slow
def test_rules_agree_with_the_simulators_truth_on_type_and_quota_cases(shared_data, rules):
    """The simulator's destination-type and quota cases — each violation beside its hard
    negatives — audited through the ``audit check`` path: every rule says what the truth says."""
    from config.settings import Settings
    from routing import load_graph
    from routing.matching import match_track
    from simulators.scenarios import QUOTA_KINDS, ScenarioOptions, generate

    graph = load_graph(
        shared_data / "osm" / "murino_lo_osmnx.osm", cache_dir=Settings().map_cache_dir
    )
    kinds = ("wrong_object_type", "shared_site", "non_social_destination", *QUOTA_KINDS)
    doc = generate(graph, rules, ScenarioOptions(trips=24, seed=9, kinds=kinds))
    flagged = audit_document(doc, graph=graph, rules=rules, matcher=match_track)
    positives = {"over_quota": 0, "non_social_destination": 0}
    for t in doc["trips"]:
        for rule in positives:
            assert (rule in flagged[t["id"]]) == t["truth"][rule], (t["kind"], rule, t["recipe"])
            positives[rule] += t["truth"][rule]
    assert positives["over_quota"] >= 2 and positives["non_social_destination"] >= 4

"""State that must survive crashes, replays and scale-out (docs/state.md).

- :mod:`socd.state.applied`: which Kafka offsets have been applied to a state document, and
  the Painless script that merges them and counts only new events inside Elasticsearch.
"""

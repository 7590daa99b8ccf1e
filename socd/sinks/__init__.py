"""Where results go: Elasticsearch (:mod:`.elasticsearch`, :mod:`.templates`) and the
dead-letter topic (:mod:`.dead_letter`)."""

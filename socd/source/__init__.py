"""Where events come from: :mod:`socd.source.kafka`."""

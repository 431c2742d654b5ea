"""Feature families of event_features: pure functions, one row per event, each with its `<family>_input_ts`."""

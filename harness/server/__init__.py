"""from an image to a served endpoint: runtimes, stacks, waits, the engine, the media gateway address."""

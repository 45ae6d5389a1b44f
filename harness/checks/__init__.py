"""what the suites use to judge an endpoint: calls, shapes, streams, media, refusals."""

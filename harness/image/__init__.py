"""from a variant to an image: base image, wheelhouse, build, content cache, the docker plan."""

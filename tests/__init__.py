"""The gateway's own tests. Their helpers are the plugin author's kit, `gateway.testing` (the raw client and its
reply, error asserts, bodies, fake upstreams, the in-process gateway); tests/http/*_helpers.py add what one area
needs on top of it."""

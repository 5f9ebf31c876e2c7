"""The gateway's own tests. Their helpers are the plugin author's kit, `gateway.testing` (the raw client and its
reply, error asserts, bodies, fake upstreams, the in-process gateway); tests/http/*_helpers.py add what one area
needs on top of it.

The built-in plugins live in plugins/ and install as the package `gateway_plugins` through setuptools' editable
import hook, which mypy cannot follow (it reads the folder as `plugins`, a name nothing may import: see
tests/test_contracts.py). A test that imports a plugin module therefore marks the import
`# type: ignore[import-not-found]`, and the checker sees its names as Any."""

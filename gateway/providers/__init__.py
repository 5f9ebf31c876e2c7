"""The provider protocol, the registry of provider kinds, key choice, retries and the shared upstream client."""

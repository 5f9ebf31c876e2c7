"""Built-in plugins. Each is a package that uses only public `gateway` names, like a third-party plugin."""

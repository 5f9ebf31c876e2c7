"""HTTP surface: middlewares, route handlers and the SSE writer."""

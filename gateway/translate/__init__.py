"""Pure translation between the canonical (Anthropic) types and OpenAI Chat, both directions, streaming too.

Core keeps it (not the openai provider plugin) because both sides need it: the OpenAI dialect translates client
requests in and answers out, and every OpenAI-compatible provider translates the other way.
"""

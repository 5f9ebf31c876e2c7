"""How Gemini thought signatures travel in canonical thinking blocks, and back.

A Gemini `thoughtSignature` may ride on any part: a thought, a text or a functionCall. Canonical (Anthropic)
content has a signature only on thinking blocks, so a signature becomes one of two kinds of thinking block,
told apart by a prefix that also marks it as ours:

- `gemini:<sig>`: the signature of the thought the block holds (the block becomes a thought part again);
- `gemini-next:<sig>`: a block with no text, holding the signature of the part right after it (a text or a
  functionCall, which Gemini 3 requires back with its signature).

Thinking blocks without our prefix (Claude's, an OpenAI-compatible server's, Gemini's unsigned summaries) are
never sent to Gemini: it cannot verify them, and answers 400 for a signature it did not issue.
"""

from __future__ import annotations

THOUGHT = "gemini:"
NEXT_PART = "gemini-next:"
# Google's documented stand-in for a functionCall whose signature is lost (an OpenAI client drops thinking
# blocks; history from another model has none): Gemini 3 answers 400 for a step's first call without one.
SKIP_VALIDATOR = "skip_thought_signature_validator"

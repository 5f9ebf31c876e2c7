"""Structured output (`structured_output`): the answer to a request that asks for JSON matching a schema is
checked against that schema, repaired where it can be, and refused with a clear error where it cannot.

schema.py is the schema layer (compile, validate, the OpenAI strict adapter); the plugin's hooks come later.
"""

"""The request pipeline: stage table, async hook runner, per-call context and the call executor."""

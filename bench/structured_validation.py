"""Which JSON Schema validator structured output uses, measured on our needs, one command.

Run from the repository root (after ``.venv/bin/pip install fastjsonschema jsonschema``, the two it compares
with: the gateway itself needs neither)::

    .venv/bin/python -m bench.structured_validation            # ~30 s
    .venv/bin/python -m bench.structured_validation --quick    # smoke run, ~10 s

For jsonschema-rs, fastjsonschema, jsonschema (the reference) and the gateway's own layer
(gateway_plugins.structured_output.schema, jsonschema-rs behind its checks) it prints:

1. speed: compiling a 30-property schema (draft 2020-12: $defs/$ref, anyOf, enum, const, closed objects), and
   validating a 2 KB and a 200 KB answer to it *including* parsing the text with msgspec (the goals: < 0.1 ms and
   < 5 ms); medians of bounded loops (a count and a time cap per cell);
2. the error each gives for an answer with one bad field deep inside (we answer a 502 naming the schema path);
3. draft 2020-12 keywords each honours (fastjsonschema knows drafts 4, 6 and 7 only);
4. what each does with the bad schemas a client can send: a malformed one, a `$ref` cycle, 10,000 levels, a
   remote `$ref`. Each runs in its own process with a timeout, so a hang or a crash shows as such.

Figures of one run on the 2-core development machine (ms unless said; every figure includes msgspec parsing,
0.0055 ms of the 2 KB and 0.64 ms of the 200 KB):

    validator       compile  2 KB answer  200 KB answer  compile 131 KB schema
    jsonschema-rs   0.07     0.0082       0.82           8.1
    fastjsonschema  7.3      0.079        8.1            766
    jsonschema      9.8      0.90         84             570
    gateway layer   0.20     0.0082       0.84           17.7   (jsonschema-rs plus the checks; then cached)
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import msgspec

Check = Callable[[Any], bool]
POINT = {"x": {"type": "number"}, "y": {"type": "number"}}
LIBS = ("jsonschema-rs", "fastjsonschema", "jsonschema", "gateway layer")
PROBE_TIMEOUT_S = 20.0


def schema_30() -> dict[str, Any]:
    """30 properties of every kind a structured-output schema has; every object closed and fully required."""
    record = {"type": "object", "additionalProperties": False, "required": ["id", "name", "tags", "score", "ok"]}
    record["properties"] = {"id": {"type": "integer", "minimum": 0}, "name": {"type": "string", "maxLength": 200},
                            "tags": {"type": "array", "items": {"type": "string"}}, "score": {"type": "number"},
                            "ok": {"type": "boolean"}}  # fmt: skip
    kinds: list[dict[str, Any]] = [
        {"type": "string"},
        {"type": "integer", "minimum": 0, "maximum": 1_000_000},
        {"type": "number"},
        {"type": "boolean"},
        {"type": "string", "enum": ["low", "medium", "high"]},
        {"type": "array", "items": {"type": "string"}, "maxItems": 50},
        {"anyOf": [{"type": "string"}, {"type": "null"}]},
        {"type": "object", "additionalProperties": False, "required": ["x", "y"], "properties": POINT},
        {"const": "v1"},
        {"type": "array", "items": {"$ref": "#/$defs/record"}},
    ]
    properties = {f"p{i:02d}": kinds[i % len(kinds)] for i in range(30)}
    return {"type": "object", "additionalProperties": False, "required": list(properties),
            "properties": properties, "$defs": {"record": record}}  # fmt: skip


def big_schema() -> dict[str, Any]:
    """About 200 KB of schema, near the gateway's 256 KiB cap: the 30 kinds of properties 70 times over."""
    base = schema_30()
    properties = {f"{name}_{i}": kind for i in range(70) for name, kind in base["properties"].items()}
    return {**base, "properties": properties, "required": list(properties)}


def answer(records: int) -> dict[str, Any]:
    values: list[Any] = ["some text", 42, 3.5, True, "medium", ["a", "b"], None, {"x": 1.0, "y": 2.0}, "v1"]
    out: dict[str, Any] = {}
    for i in range(30):
        kind = i % 10
        out[f"p{i:02d}"] = values[kind] if kind < 9 else [_record(j) for j in range(records)]
    return out


def _record(i: int) -> dict[str, Any]:
    return {"id": i, "name": f"record number {i}", "tags": ["alpha", "beta"], "score": i / 7, "ok": i % 2 == 0}


def sized_answer(target_bytes: int) -> bytes:
    """The answer with as many records as bring its JSON to about target_bytes."""
    low = len(msgspec.json.encode(answer(0)))
    per = (len(msgspec.json.encode(answer(10))) - low) / 30
    return msgspec.json.encode(answer(max(0, round((target_bytes - low) / per / 3))))


def compilers() -> dict[str, Callable[[dict[str, Any]], Check]]:
    import fastjsonschema
    import jsonschema
    import jsonschema_rs

    from gateway_plugins.structured_output import schema as layer

    def rs(s: dict[str, Any]) -> Check:
        return jsonschema_rs.validator_for(s).is_valid

    def reference(s: dict[str, Any]) -> Check:
        jsonschema.Draft202012Validator.check_schema(s)
        return jsonschema.Draft202012Validator(s).is_valid

    def fast(s: dict[str, Any]) -> Check:
        validate = fastjsonschema.compile(s)

        def check(value: Any) -> bool:
            try:
                validate(value)
            except fastjsonschema.JsonSchemaValueException:
                return False
            return True

        return check

    def ours(s: dict[str, Any]) -> Check:
        layer._compile.cache_clear()  # measure a real compile, not a cache hit
        compiled = layer.compile_schema(s)
        assert isinstance(compiled, layer.CompiledSchema), compiled
        return lambda value: compiled.validate(value) is None

    return dict(zip(LIBS, (rs, fast, reference, ours), strict=True))


def timed(fn: Callable[[], object], count: int, cap_s: float) -> float:
    """Median seconds of fn over at most `count` calls and at most `cap_s` seconds (at least 3 calls)."""
    times: list[float] = []
    deadline = time.perf_counter() + cap_s
    while len(times) < count and (len(times) < 3 or time.perf_counter() < deadline):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def speed_table(quick: bool) -> None:
    schema = schema_30()
    small, large = sized_answer(2_000), sized_answer(200_000)
    scale = 10 if quick else 1
    print(f"1. speed (median; answer sizes {len(small)} B and {len(large)} B; parse = msgspec.json.decode)")
    big = big_schema()
    print(f"   compile: the 30-property schema, and one of {len(msgspec.json.encode(big)) // 1000} KB")
    print(f"{'validator':<16} {'compile ms':>11} {'2 KB us':>9} {'200 KB ms':>10} {'big compile ms':>15}")
    parse_small = timed(lambda: msgspec.json.decode(small), 20_000 // scale, 2.0)
    parse_large = timed(lambda: msgspec.json.decode(large), 200 // scale, 2.0)
    print(f"{'(parse only)':<16} {'':>11} {parse_small * 1e6:>9.1f} {parse_large * 1e3:>10.3f}")  # in every row
    for name, compile_fn in compilers().items():
        compile_s = timed(lambda fn=compile_fn: fn(schema), 50 // scale, 3.0)
        check = compile_fn(schema)
        assert check(msgspec.json.decode(small)) and check(msgspec.json.decode(large)), name
        small_s = timed(lambda c=check: c(msgspec.json.decode(small)), 20_000 // scale, 3.0)
        large_s = timed(lambda c=check: c(msgspec.json.decode(large)), 200 // scale, 5.0)
        big_s = timed(lambda fn=compile_fn: fn(big), 10 // scale, 5.0)
        verdict = "ok" if small_s < 100e-6 and large_s < 5e-3 else "MISSED"
        row = f"{compile_s * 1e3:>11.2f} {small_s * 1e6:>9.1f} {large_s * 1e3:>10.3f} {big_s * 1e3:>15.1f}"
        print(f"{name:<16} {row}   goals 100 us, 5 ms: {verdict}")


def errors_table() -> None:
    import fastjsonschema
    import jsonschema
    import jsonschema_rs

    from gateway_plugins.structured_output import schema as layer

    bad = answer(3)
    del bad["p09"][2]["name"]  # a record deep inside misses a required field
    schema = schema_30()
    print("\n2. the error for an answer whose p09[2] lacks `name`")
    rs_error = next(iter(jsonschema_rs.validator_for(schema).iter_errors(bad)))
    print(f"  jsonschema-rs:  {rs_error.message!r} at {rs_error.instance_path}, schema {rs_error.schema_path}")
    try:
        fastjsonschema.compile(schema)(bad)
    except fastjsonschema.JsonSchemaValueException as exc:
        print(f"  fastjsonschema: {exc.message!r} at {exc.path} (no schema path; rule {exc.rule!r})")
    ref_error = next(iter(jsonschema.Draft202012Validator(schema).iter_errors(bad)))
    print(f"  jsonschema:     {ref_error.message!r} at {list(ref_error.path)}, schema {list(ref_error.schema_path)}")
    compiled = layer.compile_schema(schema)
    assert isinstance(compiled, layer.CompiledSchema)
    invalid = compiled.validate(bad)
    print(f"  gateway layer:  {invalid.describe() if invalid else None}")


# (keyword, schema, an instance the schema must refuse)
DRAFT_2020 = [
    ("$defs + $ref", {"$defs": {"n": {"type": "integer"}}, "$ref": "#/$defs/n"}, "x"),
    ("anyOf / enum / const", {"anyOf": [{"enum": [1, 2]}, {"const": "a"}]}, 3),
    ("additionalProperties", {"properties": {"a": {}}, "additionalProperties": False}, {"b": 1}),
    ("prefixItems", {"prefixItems": [{"type": "integer"}]}, ["x"]),
    ("dependentRequired", {"dependentRequired": {"a": ["b"]}}, {"a": 1}),
    ("unevaluatedProperties", {"properties": {"a": {}}, "unevaluatedProperties": False}, {"b": 1}),
]


def draft_table() -> None:
    print("\n3. draft 2020-12 keywords honoured (the instance must be refused)")
    made = compilers()
    print(f"{'keyword':<24}" + "".join(f"{name:>16}" for name in LIBS))
    for keyword, schema, instance in DRAFT_2020:
        cells = []
        for compile_fn in made.values():
            try:
                cells.append("ok" if not compile_fn(schema)(instance) else "IGNORED")
            except Exception as exc:
                cells.append(type(exc).__name__)
        print(f"{keyword:<24}" + "".join(f"{c:>16}" for c in cells))


def nested(levels: int) -> dict[str, Any]:
    """An object in an object ... `levels` times: two levels of JSON each (`properties`, the name)."""
    schema: dict[str, Any] = {"type": "string"}
    for _ in range(levels):
        schema = {"type": "object", "properties": {"a": schema}}
    return schema


def bad_schemas() -> dict[str, Any]:
    return {
        "type: strin": {"type": "object", "properties": {"a": {"type": "strin"}}},
        "$ref a->b->a": {"$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"$ref": "#/$defs/a"}}, "$ref": "#/$defs/a"},
        "allOf self-$ref": {"$defs": {"a": {"allOf": [{"$ref": "#/$defs/a"}]}}, "$ref": "#/$defs/a"},
        "$ref to nothing": {"$ref": "#/$defs/missing"},
        "remote $ref": {"$ref": "http://127.0.0.1:9/schema.json"},
        "100 objects deep": nested(100),
        "10,000 objects deep": nested(10_000),
    }


def probe(lib: str, case: str) -> None:
    """Run in a child process: compile one bad schema, then validate 1 with it; print what happened."""
    from gateway_plugins.structured_output import schema as layer

    schema, compile_fn = bad_schemas()[case], compilers()[lib]  # imports are not timed
    start = time.perf_counter()
    try:
        if lib == "gateway layer":
            compiled = layer.compile_schema(schema)
            assert isinstance(compiled, layer.SchemaError), compiled
            outcome = f"400: {compiled.describe()[:90]}"
        else:
            outcome = f"accepted; validates 1: {compile_fn(schema)(1)}"
    except BaseException as exc:  # RecursionError and SyntaxError included: that is what we look for
        outcome = f"{type(exc).__name__}: {' '.join(str(exc).split())[:60]}"
    print(f"{outcome} ({(time.perf_counter() - start) * 1e3:.0f} ms)")


def bad_table() -> None:
    print(f"\n4. bad schemas (each in its own process, {PROBE_TIMEOUT_S:.0f} s timeout)")
    for case in bad_schemas():
        print(f"  {case}")
        for lib in LIBS:
            cmd = [sys.executable, "-m", "bench.structured_validation", "--probe", lib, case]
            try:
                done = subprocess.run(cmd, capture_output=True, text=True, timeout=PROBE_TIMEOUT_S, check=False)
                said = done.stdout.strip() or f"exit {done.returncode}: {done.stderr.strip()[-80:]}"
            except subprocess.TimeoutExpired:
                said = f"HANG (killed after {PROBE_TIMEOUT_S:.0f} s)"
            print(f"    {lib:<15} {said}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a tenth of the iterations")
    parser.add_argument("--probe", nargs=2, metavar=("LIB", "CASE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    missing = [name for name in ("fastjsonschema", "jsonschema") if importlib.util.find_spec(name) is None]
    if missing:  # compared here only, not dependencies of the gateway
        sys.exit(f"the comparison needs {' and '.join(missing)}: .venv/bin/pip install {' '.join(missing)}")
    if args.probe:
        probe(*args.probe)
        return
    speed_table(args.quick)
    errors_table()
    draft_table()
    bad_table()


if __name__ == "__main__":
    main()

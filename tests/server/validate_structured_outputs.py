"""Validates structured outputs against their JSON Schemas with Debian's
python3-jsonschema (an implementation independent of llmserve's matcher).

Usage: /usr/bin/python3 validate_structured_outputs.py CASES.json
CASES.json: [{"id": str, "schema_file": path, "output": str}, ...].
Prints one JSON object {id: null | "error message"}: null when `output`
parses as JSON (RFC 8259, no trailing text) and is valid against the schema
(Draft 2020-12, with the format checker: date, time, date-time, email, uuid).
jsonschema checks `time` and `date-time` as RFC 3339 only with
rfc3339-validator, which Debian does not package (without it `time` silently
gets draft 3's HH:MM:SS and `date-time` no check at all); here both are RFC
3339 (`time` as full-time, time-offset required, checked with the date
1970-01-01) as Debian's python3-rfc3339 (pyRFC3339) parses them.
"""
import json
import sys

import jsonschema
import pyrfc3339


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        cases = json.load(f)
    schemas = {}
    results = {}
    checker = jsonschema.FormatChecker()

    @checker.checks("date-time", raises=ValueError)
    def is_date_time(instance):  # RFC 3339 date-time, e.g. 2024-05-01T18:13:13Z
        return not isinstance(instance, str) or pyrfc3339.parse(instance) is not None

    @checker.checks("time", raises=ValueError)
    def is_time(instance):  # RFC 3339 full-time, e.g. 18:13:13Z, 00:20:20.1-05:00
        return not isinstance(instance, str) or pyrfc3339.parse("1970-01-01T" + instance) is not None

    for case in cases:
        path = case["schema_file"]
        if path not in schemas:
            with open(path, encoding="utf-8") as f:
                schema = json.load(f)
            schemas[path] = jsonschema.Draft202012Validator(schema, format_checker=checker)
        try:
            value = json.loads(case["output"])
        except ValueError as e:
            results[case["id"]] = "not JSON: %s" % e
            continue
        errors = sorted(schemas[path].iter_errors(value), key=lambda e: list(e.path))
        results[case["id"]] = None if not errors else "; ".join(e.message for e in errors)
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()

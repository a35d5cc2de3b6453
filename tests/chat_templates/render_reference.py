#!/usr/bin/python3
"""Reference renderer of chat templates: Debian's python3-jinja2, set up as
Hugging Face transformers' apply_chat_template sets it up
(transformers/utils/chat_template_utils.py: an ImmutableSandboxedEnvironment
with trim_blocks=True, lstrip_blocks=True and the loopcontrols extension; the
globals raise_exception and strftime_now; tojson overridden by json.dumps with
ensure_ascii=False; render(messages=..., tools=None, documents=None,
add_generation_prompt=..., bos_token=..., eos_token=...)).

Usage: render_reference.py CASES.json > RESULTS.json
CASES.json: [{"template": "<jinja source>", "messages": [...],
              "add_generation_prompt": bool, "bos_token": str, "eos_token": str,
              "now": <unix seconds for strftime_now>}, ...]
  or, to test language constructs, {"template": ..., "variables": {...}, "now": ...}:
  the template rendered with exactly those variables.
RESULTS.json: one object per case, in order:
  {"ok": true, "text": "<rendered>"}
  {"ok": false, "raised": true, "error": "<raise_exception message>"}
  {"ok": false, "raised": false, "error": "<exception type>: <message>"}
"""
import json
import sys
from datetime import datetime

import jinja2
import jinja2.ext
from jinja2.sandbox import ImmutableSandboxedEnvironment


class TemplateRaised(Exception):
    """What raise_exception raises (transformers raises jinja2's TemplateError)."""


def make_environment(now):
    def raise_exception(message):
        raise TemplateRaised(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                          sort_keys=sort_keys)

    def strftime_now(format):
        return datetime.fromtimestamp(now).strftime(format)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


_environments = {}
_templates = {}


def render(case):
    now = case.get("now", 0)
    if now not in _environments:
        _environments[now] = make_environment(now)
    env = _environments[now]
    try:
        key = (now, case["template"])
        if key not in _templates:
            _templates[key] = env.from_string(case["template"])
        template = _templates[key]
        if "variables" in case:
            text = template.render(**case["variables"])
        else:
            text = template.render(messages=case["messages"], tools=None, documents=None,
                                   add_generation_prompt=case["add_generation_prompt"],
                                   bos_token=case["bos_token"], eos_token=case["eos_token"])
        return {"ok": True, "text": text}
    except TemplateRaised as e:
        return {"ok": False, "raised": True, "error": str(e)}
    except Exception as e:  # any other failure: the C++ side must fail too
        return {"ok": False, "raised": False, "error": "%s: %s" % (type(e).__name__, e)}


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        cases = json.load(f)
    json.dump([render(c) for c in cases], sys.stdout, ensure_ascii=False)


if __name__ == "__main__":
    main()

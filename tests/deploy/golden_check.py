#!/usr/bin/python3
"""Checks a running llmserve (stories260K) against the golden greedy decodes of
$LLMSERVE_SHARED_DIR/reference/stories260K-greedy.json, unary and streaming,
from outside the server (Python gRPC client generated from proto/).

  /usr/bin/python3 tests/deploy/golden_check.py 127.0.0.1:50051

Exits 0 when every case's completion token ids equal the golden ones; else 1,
naming the case and the first differing position.
"""
import json
import os
import sys
import tempfile

import grpc

from cluster import REPO, generate_stubs


def main():
    address = sys.argv[1]
    shared = os.environ.get("LLMSERVE_SHARED_DIR", os.path.join(REPO, "..", "shared"))
    with open(os.path.join(shared, "reference", "stories260K-greedy.json")) as f:
        cases = json.load(f)["cases"]
    pb, pb_grpc, _, _ = generate_stubs(tempfile.mkdtemp(prefix="llmserve-stubs-"))
    failures = 0
    with grpc.insecure_channel(address) as channel:
        stub = pb_grpc.GenerationStub(channel)
        for i, case in enumerate(cases):
            expected = case["greedy_completion_token_ids"]
            request = pb.GenerateRequest(
                token_ids=pb.TokenIds(ids=case["prompt_token_ids"]),
                sampling_params=pb.SamplingParams(max_tokens=len(expected), temperature=0.0))
            unary = list(stub.Generate(request, timeout=60).token_ids)
            streamed = [t for m in stub.GenerateStream(request, timeout=60) for t in m.token_ids]
            for name, got in (("unary", unary), ("stream", streamed)):
                if got != expected:
                    first = next((p for p, (a, b) in enumerate(zip(got, expected)) if a != b),
                                 min(len(got), len(expected)))
                    print(f"case {i} ({case['prompt']!r}) {name}: differs at completion "
                          f"position {first} (got {len(got)} tokens, expected {len(expected)})")
                    failures += 1
    print(f"golden_check: {len(cases) * 2 - failures} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

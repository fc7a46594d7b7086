#!/usr/bin/env python3
"""An example daybook summarizer command.

daybook runs it once per reduction, writes the request (JSON) on its
stdin and reads the answer (JSON) from its stdout. It names the apps by
how many captures each had and writes one sub-task line per run of
blocks led by the same app. Replace the body of `summarize` with a call
to the model of your choice; keep the input and output shapes.

    [summarizer]
    command = ["python3", "/path/to/summarize.py"]
"""

import json
import sys


def hhmm(rfc3339):
    # "2026-11-28T10:00:00.000+01:00" -> "10:00": the time is already
    # local (the block's own offset), so no conversion is needed.
    return rfc3339[11:16]


def summarize(request):
    captures = {}
    for block in request["blocks"]:
        for app in block["apps"]:
            captures[app] = captures.get(app, 0) + block["capture_count"]
    apps = sorted(captures, key=lambda a: -captures[a])  # stable: ties keep first-seen order

    lines = []
    run = []
    for block in request["blocks"] + [None]:
        lead = block["apps"][0] if block and block["apps"] else None
        if run and (block is None or lead != run[0]["apps"][0]):
            seen = []
            for b in run:
                seen += [line for line in b["lines"] if line not in seen]
            detail = "; ".join(seen)
            if len(detail) > 200:
                detail = detail[:200] + "…"
            lines.append("[%s-%s, %s] %s" % (hhmm(run[0]["start"]), hhmm(run[-1]["end"]), run[0]["apps"][0], detail))
            run = []
        if block is not None and block["apps"]:
            run.append(block)

    total = sum(block["capture_count"] for block in request["blocks"])
    blocks = len(request["blocks"])
    summary = "%s: mostly %s (%d capture%s in %d block%s)." % (
        "So far" if request["kind"] == "flush" else "Session",
        ", ".join(apps[:3]) or "nothing",
        total,
        "" if total == 1 else "s",
        blocks,
        "" if blocks == 1 else "s",
    )
    return {"summary": summary, "lines": lines}


if __name__ == "__main__":
    request = json.load(sys.stdin)
    json.dump(summarize(request), sys.stdout, ensure_ascii=False)
    sys.stdout.write("\n")

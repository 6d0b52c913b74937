"""Band arithmetic in prefix s-expressions: ``ndvi:(norm_diff 1.nir 1.red)``.

A small language, parsed into a tree and evaluated by numpy, never by ``eval``: an
expression can only combine the assets it names with the operators listed in
:data:`OPERATORS`. Grammar::

    definition := [name ":"] expression
    expression := number | asset | "(" operator expression* ")"
    asset      := position "." band         e.g. 1.B04, 2.red, 1.b3
    number     := [+-] digits [. digits] [e [+-] digits]

Values are float32 arrays (or scalars) with NaN as nodata. NaN propagates through
every operator, comparisons and logical operators give 1.0 / 0.0 (NaN where an
operand is NaN), and a division by zero gives NaN. ``mean`` is the global mean of
its argument over the whole raster; :func:`mean_nodes` lists what a first pass over
the blocks must compute before the blocks are evaluated.

The text may come from anyone: it is refused beyond :data:`MAX_LENGTH` characters or
:data:`MAX_DEPTH` levels of nesting, and parsing is linear in its length.

The language is one module (about 470 lines: operators, tokenizer, parser, evaluator):
its grammar and its limits are read together.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

import numpy as np

from ..errors import CoregInputError

#: Output names (file names): a letter or underscore, then letters, digits, _ or -.
NAME = re.compile(r"[A-Za-z_][\w-]*")
#: An asset reference: 1-based input position, a dot, a band name that is no number.
ASSET = re.compile(r"(\d+)\.([A-Za-z_][\w-]*)")
#: Unambiguous (no two ways to match the same digits), so a failed match is linear in
#: its length: ``\d+\.?\d*`` backtracked quadratically on "1111...1a".
NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
#: One token at a time, after optional white space: a parenthesis or an atom (a run of
#: anything else); matched at a position, never on a slice of the remaining text.
TOKEN = re.compile(r"\s*(?:([()])|([^\s()]+))")
FLOAT32_MAX = float(np.finfo(np.float32).max)
#: Largest nesting accepted, far beyond any real expression (bounds the recursion).
MAX_DEPTH = 64
#: Longest expression text accepted, far beyond any real one (bounds the work of one
#: string handed to the parser).
MAX_LENGTH = 100_000
#: Characters of a token quoted in an error message.
SHOWN = 40


class BandMathError(CoregInputError):
    """An expression that cannot be parsed or evaluated; says where and what was expected.

    ``position`` is the 0-based character offset in the expression text (None when
    the error is not tied to one place).
    """

    def __init__(self, message: str, position: int | None = None, expected: str = ""):
        where = f" (character {position + 1})" if position is not None else ""
        hint = f"; expected {expected}" if expected else ""
        super().__init__(f"{message}{where}{hint}")
        self.position, self.expected = position, expected


# ------------------------------------------------------------------------ syntax tree


# Nodes compare equal whatever their position in the text, so that the same ``mean``
# written twice is computed once.


@dataclass(frozen=True)
class Number:
    value: float
    position: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Asset:
    """``position.band``: the input's 1-based position and a band name, as written."""

    name: str
    position: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Call:
    operator: str
    args: tuple
    position: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Definition:
    """A named expression: the output ``name`` and its tree."""

    name: str
    expression: Number | Asset | Call
    text: str

    @property
    def assets(self) -> list[str]:
        """Asset names the expression reads, in order of first use."""
        return list(dict.fromkeys(a.name for a in walk(self.expression)
                                  if isinstance(a, Asset)))


# ------------------------------------------------------------------------ operators


def _divide(a, b):
    with np.errstate(divide="ignore", invalid="ignore"):
        quotient = np.true_divide(a, b)
    return np.where(np.asarray(b) == 0, np.float32(np.nan), quotient)


def _fold(function: Callable) -> Callable:
    def folded(*args):
        result = args[0]
        for arg in args[1:]:
            result = function(result, arg)
        return result
    return folded


def _minus(*args):
    return np.negative(args[0]) if len(args) == 1 else _fold(np.subtract)(*args)


def _truth(function: Callable) -> Callable:
    """A comparison or logical operator: 1.0 / 0.0, NaN where an operand is NaN."""
    def truth(*args):
        with np.errstate(invalid="ignore"):
            result = np.asarray(function(*args), np.float32)
        missing = np.zeros(np.shape(result), bool)
        for arg in args:
            missing = missing | np.isnan(arg)
        return np.where(missing, np.float32(np.nan), result)
    return truth


def _logical(function: Callable) -> Callable:
    return _truth(_fold(lambda a, b: function(np.asarray(a) != 0, np.asarray(b) != 0)))


def _norm_diff(x, y):
    return _divide(np.subtract(x, y), np.add(x, y))


def _where(condition, when_true, when_false):
    chosen = np.where(np.asarray(condition) != 0, when_true, when_false)
    return np.where(np.isnan(condition), np.float32(np.nan), chosen)


def _interp(x, xp, fp):
    result = np.interp(x, xp, fp).astype(np.float32)
    return np.where(np.isnan(x), np.float32(np.nan), result)


@dataclass(frozen=True)
class Operator:
    """An operator or function: its arity (``max_args`` None: unbounded) and meaning."""

    min_args: int
    max_args: int | None
    apply: Callable | None
    help: str

    def arity_text(self) -> str:
        if self.max_args == self.min_args:
            return f"{self.min_args} argument{'s' * (self.min_args != 1)}"
        if self.max_args is None:
            return f"at least {self.min_args} argument{'s' * (self.min_args != 1)}"
        return f"{self.min_args} to {self.max_args} arguments"


#: Every operator and function of the language: the one table the parser, the checks
#: and the evaluator read (the README's table describes it).
OPERATORS: dict[str, Operator] = {
    "+": Operator(2, None, _fold(np.add), "sum of the arguments"),
    "-": Operator(1, None, _minus, "negation, or the first minus the others"),
    "*": Operator(2, None, _fold(np.multiply), "product of the arguments"),
    "/": Operator(2, None, _fold(_divide), "the first divided by the others (x / 0: nodata)"),
    "<": Operator(2, 2, _truth(np.less), "1 where true, 0 where false"),
    "<=": Operator(2, 2, _truth(np.less_equal), "1 where true, 0 where false"),
    "==": Operator(2, 2, _truth(np.equal), "1 where true, 0 where false"),
    "!=": Operator(2, 2, _truth(np.not_equal), "1 where true, 0 where false"),
    ">=": Operator(2, 2, _truth(np.greater_equal), "1 where true, 0 where false"),
    ">": Operator(2, 2, _truth(np.greater), "1 where true, 0 where false"),
    "&": Operator(2, None, _logical(np.logical_and), "1 where all are non-zero"),
    "|": Operator(2, None, _logical(np.logical_or), "1 where any is non-zero"),
    "asarray": Operator(1, None, None, "a list of numbers (the breakpoints of interp)"),
    "interp": Operator(3, 3, _interp, "(interp x (asarray xp...) (asarray fp...)): "
                                      "piecewise-linear map of x, as numpy.interp"),
    "mean": Operator(1, 1, None, "mean of the argument over the whole raster"),
    "norm_diff": Operator(2, 2, _norm_diff, "(x - y) / (x + y)"),
    "where": Operator(3, 3, _where, "(where condition a b): a where condition is "
                                    "non-zero, else b"),
}


# ------------------------------------------------------------------------ parsing


@dataclass(frozen=True)
class Token:
    kind: str  # "(", ")" or "atom"
    text: str
    position: int


def tokenize(text: str, start: int = 0) -> list[Token]:
    """Split ``text[start:]`` into parentheses and atoms (runs of anything else up to a
    space or parenthesis); positions count from the start of ``text``.

    One pass of :data:`TOKEN` from position to position: linear in the text's length.
    """
    tokens, k = [], start
    while True:
        match = TOKEN.match(text, k)
        if match is None:  # only white space is left
            return tokens
        paren, atom_text = match.groups()
        tokens.append(Token(paren or "atom", paren or atom_text,
                            match.start(1 if paren else 2)))
        k = match.end()


class _Parser:
    """Recursive descent over the tokens of one expression."""

    def __init__(self, text: str, start: int = 0):
        self.text, self.tokens, self.k = text, tokenize(text, start), 0

    def parse(self) -> Number | Asset | Call:
        node = self.expression(0)
        if isinstance(node, Call) and node.operator == "asarray":
            raise BandMathError("asarray alone is no raster", node.position,
                                "asarray only as the breakpoints of interp")
        if self.k < len(self.tokens):
            raise BandMathError(f"Unexpected '{shown(self.tokens[self.k].text)}' after the "
                                "expression", self.tokens[self.k].position,
                                "the end of the expression")
        return node

    def expression(self, depth: int) -> Number | Asset | Call:
        if depth > MAX_DEPTH:
            raise BandMathError(f"Expression nested deeper than {MAX_DEPTH} levels",
                                self.peek_position())
        token = self.next("a number, an asset such as 1.B04, or '('")
        if token.kind == "(":
            return self.call(token, depth)
        if token.kind == ")":
            raise BandMathError("Unexpected ')'", token.position,
                                "a number, an asset such as 1.B04, or '('")
        return atom(token)

    def call(self, opening: Token, depth: int) -> Call:
        head = self.next("an operator or function name")
        if head.kind != "atom":
            raise BandMathError(f"'{shown(head.text)}' where an operator belongs",
                                head.position, f"one of {' '.join(OPERATORS)}")
        if head.text not in OPERATORS:
            raise BandMathError(f"Unknown operator or function '{shown(head.text)}'",
                                head.position, f"one of {' '.join(OPERATORS)}")
        args = []
        while self.peek_kind() != ")":
            if self.peek_kind() is None:
                raise BandMathError(f"The '(' at character {opening.position + 1} is "
                                    "never closed", len(self.text), "')'")
            args.append(self.expression(depth + 1))
        self.k += 1
        node = Call(head.text, tuple(args), opening.position)
        check_call(node)
        return node

    def next(self, expected: str) -> Token:
        if self.k >= len(self.tokens):
            raise BandMathError("The expression ends too early", len(self.text), expected)
        self.k += 1
        return self.tokens[self.k - 1]

    def peek_kind(self) -> str | None:
        return self.tokens[self.k].kind if self.k < len(self.tokens) else None

    def peek_position(self) -> int:
        return self.tokens[self.k].position if self.k < len(self.tokens) else len(self.text)


def shown(text: str) -> str:
    """``text`` cut to :data:`SHOWN` characters for an error message."""
    return text if len(text) <= SHOWN else f"{text[:SHOWN]}... ({len(text)} characters)"


def atom(token: Token) -> Number | Asset:
    """A number or an asset reference; anything else is an error naming what it is."""
    if NUMBER.fullmatch(token.text):
        value = float(token.text)
        if not abs(value) <= FLOAT32_MAX:
            raise BandMathError(f"Number '{shown(token.text)}' out of range", token.position,
                                "a finite number")
        return Number(value, token.position)
    if ASSET.fullmatch(token.text):
        return Asset(token.text, token.position)
    if token.text in OPERATORS:
        raise BandMathError(f"Operator '{token.text}' outside parentheses", token.position,
                            f"'({token.text} ...)'")
    raise BandMathError(f"Unknown name '{shown(token.text)}'", token.position,
                        "a number, an asset such as 1.B04 (input position, dot, band), "
                        "or '('")


def check_call(node: Call) -> None:
    """Arity and argument kinds: ``asarray`` holds numbers and only feeds ``interp``."""
    op = OPERATORS[node.operator]
    n = len(node.args)
    if n < op.min_args or (op.max_args is not None and n > op.max_args):
        raise BandMathError(f"'{node.operator}' takes {op.arity_text()}, not {n}",
                            node.position, op.arity_text())
    for k, arg in enumerate(node.args):
        is_array = isinstance(arg, Call) and arg.operator == "asarray"
        wants_array = node.operator == "interp" and k > 0
        if node.operator == "asarray" and not isinstance(arg, Number):
            raise BandMathError("asarray takes numbers only", arg.position, "a number")
        if is_array and not wants_array:
            raise BandMathError(f"asarray cannot be an argument of '{node.operator}' here",
                                arg.position, "a number, an asset or an expression")
        if wants_array and not is_array:
            raise BandMathError("interp takes its breakpoints as (asarray ...)",
                                arg.position, "(asarray n1 n2 ...)")
    if node.operator == "interp":
        xp, fp = (np.array([a.value for a in arg.args]) for arg in node.args[1:])
        if len(xp) != len(fp):
            raise BandMathError(f"interp needs as many x as y breakpoints ({len(xp)} and "
                                f"{len(fp)})", node.args[2].position, f"{len(xp)} numbers")
        if np.any(np.diff(xp) <= 0):
            raise BandMathError("interp needs increasing x breakpoints",
                                node.args[1].position, "increasing numbers")


def check_text(text: object) -> str:
    """``text`` if it is a string of at most :data:`MAX_LENGTH` characters, else a
    BandMathError: callers may hand over anything (bytes, None, a file's content)."""
    if isinstance(text, (bytes, bytearray)):
        raise BandMathError("The expression must be text, not bytes (decode it first)")
    if not isinstance(text, str):
        raise BandMathError(f"The expression must be text, not {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise BandMathError(f"The expression is {len(text):,} characters long: the limit is "
                            f"{MAX_LENGTH:,} characters")
    return text


def parse_expression(text: str, start: int = 0) -> Number | Asset | Call:
    """The tree of the expression ``text[start:]``; BandMathError if it is not well
    formed (positions count from the start of ``text``)."""
    return _Parser(check_text(text), start).parse()


def parse_definition(text: str, default_name: str = "expression") -> Definition:
    """``name:(expression)`` or just ``(expression)`` (then named ``default_name``)."""
    check_text(text)
    name, start = default_name, 0
    head, colon, _ = text.partition(":")
    if colon:
        name, start = head.strip(), len(head) + 1
        if not NAME.fullmatch(name):
            raise BandMathError(f"Invalid output name '{shown(name)}'",
                                len(head) - len(head.lstrip()),
                                "a name of letters, digits, _ or - starting with a letter")
    if not text[start:].strip():
        raise BandMathError(f"Empty expression for '{shown(name)}'", start, "(operator ...)")
    return Definition(name, parse_expression(text, start), text.strip())


def parse_definitions(text: str) -> list[Definition]:
    """One ``name:(expression)`` per line or separated by ``;``; names must differ."""
    parts = [p for p in re.split(r"[;\n]", check_text(text)) if p.strip()]
    definitions = [parse_definition(p, f"expression{k + 1}") for k, p in enumerate(parts)]
    duplicates = sorted(n for n, count in Counter(d.name for d in definitions).items()
                        if count > 1)
    if duplicates:
        raise BandMathError("Output names must be unique: "
                            f"{shown(', '.join(duplicates))} repeated")
    return definitions


# ------------------------------------------------------------------------ evaluation


def walk(node) -> Iterator:
    """Every node of the tree, children before their parent.

    With a stack of its own, not recursion: no tree, however deep, exhausts Python's.
    """
    stack = [(node, False)]
    while stack:
        current, expanded = stack.pop()
        if expanded or not isinstance(current, Call):
            yield current
            continue
        stack.append((current, True))
        stack.extend((arg, False) for arg in reversed(current.args))


def mean_nodes(node) -> list[Call]:
    """The ``mean`` calls of a tree, inner ones first: the order a first pass must
    compute them in (an outer mean may need an inner one)."""
    return list(dict.fromkeys(n for n in walk(node)
                              if isinstance(n, Call) and n.operator == "mean"))


def evaluate(node, assets: Mapping[str, np.ndarray], means: Mapping[Call, float]):
    """Value of the tree on one block: ``assets`` maps names to float32 arrays (NaN =
    nodata), ``means`` the value of every ``mean`` call (see :func:`mean_nodes`).

    Returns a float32 array, or a float if the tree reads no asset.
    """
    return _evaluate(node, assets, means, 0)


def _evaluate(node, assets: Mapping[str, np.ndarray], means: Mapping[Call, float],
              depth: int):
    """:func:`evaluate`, refusing trees deeper than :data:`MAX_DEPTH` (one not built by
    the parser) before the recursion can exhaust Python's stack."""
    if depth > MAX_DEPTH:
        raise BandMathError(f"Expression nested deeper than {MAX_DEPTH} levels",
                            getattr(node, "position", None))
    if isinstance(node, Number):
        return np.float32(node.value)
    if isinstance(node, Asset):
        if node.name not in assets:
            raise BandMathError(f"Unknown asset '{shown(node.name)}'", node.position,
                                f"one of {', '.join(assets) or '(no asset)'}")
        return assets[node.name]
    if node.operator == "mean":
        if node not in means:
            raise BandMathError("The mean was not computed (first pass missing)",
                                node.position)
        return np.float32(means[node])
    if node.operator == "asarray":
        return np.array([a.value for a in node.args], np.float32)
    args = [_evaluate(arg, assets, means, depth + 1) for arg in node.args]
    with np.errstate(all="ignore"):
        return OPERATORS[node.operator].apply(*args)


def evaluate_block(node, assets: Mapping[str, np.ndarray], means: Mapping[Call, float],
                   shape: tuple[int, int]) -> np.ndarray:
    """Value of the tree on one block as a float32 array of ``shape`` (constants
    broadcast)."""
    value = evaluate(node, assets, means)
    return np.broadcast_to(np.asarray(value, np.float32), shape).copy()


class MeanAccumulator:
    """Sum and count of the finite values of one ``mean`` argument over the blocks."""

    def __init__(self):
        self.total, self.count = 0.0, 0

    def add(self, values) -> None:
        values = np.asarray(values, np.float64)
        finite = np.isfinite(values)
        self.total += float(values[finite].sum())
        self.count += int(finite.sum())

    def value(self) -> float:
        return self.total / self.count if self.count else float("nan")

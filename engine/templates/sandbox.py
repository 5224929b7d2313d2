"""The environment every template renders in: Jinja's immutable sandbox, with budgets.

The sandbox already refuses private attributes (``__class__``, ``mro``,
``__globals__``) and mutation of lists and dicts. What it does not bound is
work and memory: a loop over ``range(10**9)``, ``'x' * 10**9``, ``10**10**9``
or a macro that doubles a string forty times. Here every loop iteration, call,
filter, operator and concatenation is charged to a per-render :class:`Budget`
(operations and wall-clock time), and every string or list a template builds
is size-checked *before* it is allocated where that can be known, and after
otherwise. Exceeding a budget raises :class:`LimitExceeded`, a SecurityError.
"""

from __future__ import annotations

import contextvars
import functools
import re
import string
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from jinja2 import StrictUndefined, nodes, select_autoescape
from jinja2.compiler import CodeGenerator, Frame, optimizeconst
from jinja2.exceptions import SecurityError, TemplateRuntimeError
from jinja2.loaders import BaseLoader
from jinja2.runtime import LoopContext
from jinja2.sandbox import ImmutableSandboxedEnvironment


@dataclass(frozen=True)
class Limits:
    """Bounds on one render of one message (all three parts together, except size)."""

    max_part_bytes: int = 256 * 1024  # UTF-8 bytes of each rendered part
    max_value_chars: int = 256 * 1024  # any one string or list a template builds
    max_operations: int = 50_000  # loop iterations, range items, calls, filters, operators
    max_seconds: float = 2.0  # wall clock for the whole render
    max_int_bits: int = 4096  # integers a template computes (``10**10**9`` is refused)
    max_width: int = 1000  # padding and widths: center(), ljust(), '%5000d', '{:>5000}'


class LimitExceeded(SecurityError):
    """A template went over one of its :class:`Limits`."""


_current: contextvars.ContextVar[Budget | None] = contextvars.ContextVar("touchline_template_budget", default=None)


class Budget:
    """Work and time left for the render in progress (one per render, per thread)."""

    __slots__ = ("deadline", "limits", "operations")

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.operations = 0
        self.deadline = time.monotonic() + limits.max_seconds

    def charge(self, n: int = 1) -> None:
        self.operations += n
        if self.operations > self.limits.max_operations:
            raise LimitExceeded(
                f"the template did too much work: more than {self.limits.max_operations} loop iterations, "
                "calls and filters in one render"
            )
        if time.monotonic() > self.deadline:
            raise LimitExceeded(f"the template took longer than {self.limits.max_seconds:g} seconds to render")

    def check_size(self, value: Any, what: str = "value") -> Any:
        if _size(value, self.limits.max_value_chars) > self.limits.max_value_chars:
            raise LimitExceeded(f"{what} larger than {self.limits.max_value_chars} characters")
        return value


class budgeted:
    """``with budgeted(limits): ...`` -- renders inside share one fresh Budget."""

    def __init__(self, limits: Limits) -> None:
        self.budget = Budget(limits)
        self._token: contextvars.Token | None = None

    def __enter__(self) -> Budget:
        self._token = _current.set(self.budget)
        return self.budget

    def __exit__(self, *exc: object) -> None:
        assert self._token is not None
        _current.reset(self._token)


def current_budget() -> Budget:
    budget = _current.get()
    if budget is None:
        # Rendering outside TemplateLibrary.render would run without limits.
        raise SecurityError("templates render only inside a budget (TemplateLibrary.render)")
    return budget


def _size(value: Any, limit: int) -> int:
    """Characters a value stands for, counting nested containers; stops early past ``limit``."""
    if isinstance(value, (str, bytes)):
        return len(value)
    if isinstance(value, dict):
        total = len(value)
        for key, item in value.items():
            total += _size(key, limit) + _size(item, limit)
            if total > limit:
                break
        return total
    if isinstance(value, (list, tuple, set, frozenset)):
        total = len(value)
        for item in value:
            total += _size(item, limit)
            if total > limit:
                break
        return total
    return 0


class ChainableStrictUndefined(StrictUndefined):
    """Strict, but ``missing.attr.key|default('x')`` still reaches ``default``.

    Printing, iterating, comparing or testing the truth of an undefined value
    fails with the name of the *first* missing thing; only ``default`` and
    ``is defined`` may look at it.
    """

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        if name[:2] == "__":
            raise AttributeError(name)
        return self

    def __getitem__(self, key: Any) -> Any:
        return self

    @property
    def _undefined_message(self) -> str:
        # "account has no 'renewal_at'" reads better than the record's Python type.
        label = getattr(self._undefined_obj, "_label", None)
        if self._undefined_hint is None and isinstance(label, str) and isinstance(self._undefined_name, str):
            return f"{label} has no {self._undefined_name!r} (not a field, or empty for this {label})"
        return super()._undefined_message


# str methods whose integer arguments are output widths or counts.
_WIDTH_METHODS = frozenset({"center", "ljust", "rjust", "zfill", "expandtabs"})
# Filters whose integer arguments are widths or counts of things they produce.
_WIDTH_FILTERS = frozenset({"center", "indent", "wordwrap", "batch", "slice", "truncate", "filesizeformat"})
_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?")
_FORMAT_NUMBER = re.compile(r"\d+")


def _check_percent_format(fmt: str, limits: Limits) -> None:
    for width, precision in _PERCENT_SPEC.findall(fmt):
        for n in (width, precision):
            if n == "*" or (n and int(n) > limits.max_width):
                raise LimitExceeded(f"format width {n!r} in {fmt[:40]!r} is over {limits.max_width}")


def _check_brace_format(fmt: str, limits: Limits) -> None:
    try:
        fields = list(string.Formatter().parse(fmt))
    except ValueError:
        return  # str.format itself reports the malformed string
    for _literal, _field, spec, _conversion in fields:
        if not spec:
            continue
        if "{" in spec:
            raise LimitExceeded(f"nested format specs such as {spec!r} are not allowed in templates")
        for n in _FORMAT_NUMBER.findall(spec):
            if int(n) > limits.max_width:
                raise LimitExceeded(f"format width {n} in {fmt[:40]!r} is over {limits.max_width}")


def _check_widths(args: Iterable[Any], limits: Limits, what: str) -> None:
    for arg in args:
        if isinstance(arg, int) and not isinstance(arg, bool) and abs(arg) > limits.max_width:
            raise LimitExceeded(f"{what}: {arg} is over the limit of {limits.max_width}")


def _check_join(items: Any, sep: Any, budget: Budget) -> list[Any]:
    items = list(items)
    budget.charge(len(items))
    sep_len = len(sep) if isinstance(sep, str) else 0
    total = sep_len * max(len(items) - 1, 0) + sum(_size(i, budget.limits.max_value_chars) for i in items)
    if total > budget.limits.max_value_chars:
        raise LimitExceeded(f"joined string larger than {budget.limits.max_value_chars} characters")
    return items


def _budgeted_iter(iterable: Any) -> Iterator[Any]:
    budget = current_budget()
    for item in iterable:
        budget.charge()
        yield item


def _budgeted_range(*args: int) -> range:
    budget = current_budget()
    rng = range(*args)
    budget.charge(len(rng))
    return rng


# Why a value has no text form of its own (its str() is an internal repr), or None.
NotText = Callable[[Any], "str | None"]


class NotTextError(TemplateRuntimeError):
    """A template tried to print, format or join a value that is not text, such as a whole record."""


def _refuse_not_text(not_text: NotText | None, values: Iterable[Any]) -> None:
    if not_text is None:
        return
    for value in values:
        why = not_text(value)
        if why is not None:
            raise NotTextError(why)


# Filters that turn their value (and format, its arguments) into text.
_TEXT_FILTERS = frozenset({"format", "string", "pprint"})


def _wrap_filter(name: str, func: Callable[..., Any], not_text: NotText | None = None) -> Callable[..., Any]:
    passes = getattr(func, "jinja_pass_arg", None) is not None

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        budget = current_budget()
        budget.charge()
        given = args[1:] if passes else args  # (value, *arguments)
        if name in _TEXT_FILTERS:
            _refuse_not_text(not_text, [*given, *kwargs.values()] if name == "format" else given[:1])
        if name in _WIDTH_FILTERS:
            _check_widths([*given[1:], *kwargs.values()], budget.limits, f"filter {name}")
        elif name == "format" and given and isinstance(given[0], str):
            _check_percent_format(given[0], budget.limits)
        elif name == "join" and given:
            sep = given[1] if len(given) > 1 else kwargs.get("d", "")
            items = _check_join(given[0], sep, budget)
            args = (*args[: len(args) - len(given)], items, *given[1:])
        return budget.check_size(func(*args, **kwargs), f"the result of filter {name}")

    return wrapper


class _CodeGenerator(CodeGenerator):
    @optimizeconst
    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        # Same as Jinja's, but the parts are size-checked before they are joined.
        if frame.eval_ctx.volatile:
            func_name = "(markup_join if context.eval_ctx.volatile else str_join)"
        elif frame.eval_ctx.autoescape:
            func_name = "markup_join"
        else:
            func_name = "str_join"
        self.write(f"environment.checked_concat({func_name}, (")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


# Only the html part is HTML-escaped; subject and text render the same
# template (``part`` says which) without escaping. Imported macro templates
# have no ``part`` and escape, as any HTML template would.
def _escape_html_part_only() -> nodes.Keyword:
    part = nodes.Name("part", "load")
    return nodes.Keyword(
        "autoescape",
        nodes.CondExpr(
            nodes.Test(part, "defined", [], [], None, None),
            nodes.Compare(nodes.Name("part", "load"), [nodes.Operand("eq", nodes.Const("html"))]),
            nodes.Const(True),
        ),
    )


class SafeEnvironment(ImmutableSandboxedEnvironment):
    """The immutable sandbox with StrictUndefined, autoescape and the budgets above."""

    intercepted_binops = frozenset({"*", "**", "%", "+"})
    code_generator_class = _CodeGenerator

    def __init__(self, loader: BaseLoader | None = None, limits: Limits | None = None, not_text: NotText | None = None) -> None:
        """``not_text`` says why a context value has no text form (a record prints as
        its Python repr); printing, formatting or concatenating one is then refused."""
        super().__init__(
            loader=loader,
            undefined=ChainableStrictUndefined,
            autoescape=select_autoescape(("html",), default_for_string=True, default=False),
            trim_blocks=True,
            lstrip_blocks=True,
            auto_reload=True,
            finalize=self._finalize,
        )
        self.limits = limits or Limits()
        self.not_text = not_text
        self.globals["range"] = _budgeted_range
        self.globals.pop("lipsum", None)  # generates arbitrarily long text
        self.filters = {name: _wrap_filter(name, f, not_text) for name, f in self.filters.items()}
        self.filters["_budgeted"] = _budgeted_iter

    def _finalize(self, value: Any) -> Any:
        # A null in the data prints as nothing rather than "None".
        if value is None:
            return ""
        if not isinstance(value, (str, int, float)):  # text and numbers (most output) skip the check
            _refuse_not_text(self.not_text, (value,))
        return value

    def add_filter(self, name: str, func: Callable[..., Any]) -> None:
        """Register a filter with the same budget checks as the built-in ones."""
        self.filters[name] = _wrap_filter(name, func, self.not_text)

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        tree = super()._parse(source, name, filename)
        for loop in tree.find_all(nodes.For):
            loop.iter = nodes.Filter(loop.iter, "_budgeted", [], [], None, None, lineno=loop.lineno)
        if name is None or name.endswith(".html"):
            for block in tree.find_all(nodes.Block):
                block.body = [nodes.ScopedEvalContextModifier([_escape_html_part_only()], block.body)]
            tree.body = [nodes.ScopedEvalContextModifier([_escape_html_part_only()], tree.body)]
        return tree

    # -- what sandboxed code calls instead of Python's own operations --

    def checked_concat(self, join: Callable[[Iterable[Any]], str], parts: tuple[Any, ...]) -> str:
        budget = current_budget()
        budget.charge()
        _refuse_not_text(self.not_text, parts)
        budget.check_size(parts, "joined string")
        return join(parts)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        budget = current_budget()
        budget.charge()
        limits = budget.limits
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                repeat = isinstance(seq, (str, list, tuple)) and isinstance(times, int)
                if repeat and _size(seq, limits.max_value_chars) * max(times, 0) > limits.max_value_chars:
                    raise LimitExceeded(f"repeating a value {times} times is over {limits.max_value_chars} characters")
            if _is_int(left) and _is_int(right) and left.bit_length() + right.bit_length() > limits.max_int_bits:
                raise LimitExceeded(f"numbers larger than {limits.max_int_bits} bits are not allowed in templates")
        elif operator == "**":
            if _is_int(left) and _is_int(right) and right > 0 and abs(left) > 1 and right * left.bit_length() > limits.max_int_bits:
                raise LimitExceeded(f"numbers larger than {limits.max_int_bits} bits are not allowed in templates")
        elif operator == "%" and isinstance(left, str):
            _check_percent_format(left, limits)
            _refuse_not_text(self.not_text, right if isinstance(right, tuple) else (right,))
        elif operator == "+" and isinstance(left, (str, list, tuple)) and isinstance(right, (str, list, tuple)):
            budget.check_size((left, right), "a concatenated value")
        return budget.check_size(super().call_binop(context, operator, left, right), "a computed value")

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: PYI063 (Jinja's signature)
        budget = current_budget()
        budget.charge()
        limits = budget.limits
        owner = getattr(__obj, "__self__", None)
        wrapped = getattr(__obj, "__wrapped__", None)
        if wrapped is not None and isinstance(getattr(wrapped, "__self__", None), str):
            # str.format / format_map, already wrapped by the sandbox's formatter.
            _check_brace_format(wrapped.__self__, limits)
            _refuse_not_text(__self.not_text, [*args, *kwargs.values()])
        elif isinstance(owner, str):
            method = getattr(__obj, "__name__", "")
            if method in _WIDTH_METHODS:
                _check_widths([*args, *kwargs.values()], limits, f"str.{method}")
            elif method == "replace" and len(args) >= 2 and isinstance(args[0], str) and isinstance(args[1], str):
                grows = owner.count(args[0]) * max(len(args[1]) - len(args[0]), 0) if args[0] else len(owner) * len(args[1])
                if len(owner) + grows > limits.max_value_chars:
                    raise LimitExceeded(f"str.replace result larger than {limits.max_value_chars} characters")
            elif method == "join" and args:
                args = (_check_join(args[0], owner, budget), *args[1:])
        elif isinstance(__obj, LoopContext) and args:
            # A recursive loop's loop(children): iterate the children on the budget too.
            args = (_budgeted_iter(args[0]), *args[1:])
        return budget.check_size(
            super().call(__context, __obj, *args, **kwargs), f"the result of calling {getattr(__obj, '__name__', 'a function')}"
        )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


__all__ = [
    "Budget", "ChainableStrictUndefined", "LimitExceeded", "Limits", "NotTextError", "SafeEnvironment", "budgeted",
    "current_budget",
]  # fmt: skip

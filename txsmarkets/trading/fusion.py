"""The configured checks fused into one generated method, as `dataclasses` and attrs
generate theirs.

`TradingControls.check` and ``check_replace`` are written as a loop over the configured
checks (`txsmarkets.trading.checks`): that loop and the small checks are the source, and
the unit the docs count. In CPython each call costs about as much as a check's own work,
and a create meets every configured check, so `fuse` makes from such a method one
function with its loop unrolled: each configured check's body in the loop's place, in
order, its arguments bound once. A check refuses with ``return <the refusal>``, which
returns it from the fused method as the loop returns the first refusal; it passes by its
last line, ``return None``, left out: on into the next. The generated source is kept where `inspect` finds it
(``inspect.getsource(controls.check)``).

What a fused check may not do is refused here, with `FusionError`: ``return None`` (or a
bare ``return``) before its last line, assigning one of its arguments or a name the
method uses, or a loop control (``break``/``continue``) outside a loop of its own.
"""

from __future__ import annotations

import ast
import builtins
import inspect
import itertools
import linecache
import textwrap
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["FusionError", "fuse", "fused"]

_serial = itertools.count(1)
# (template, loop, the checks' functions) -> the fused function: one per configuration.
_made: dict[tuple[Any, ...], Callable[..., Any]] = {}


class FusionError(Exception):
    """A check or a method cannot be fused (see the module doc)."""


def _function(source_of: Callable[..., Any]) -> ast.FunctionDef:
    """The tree of ``source_of``'s source, as the running code was compiled from it:
    `FusionError` if the file says otherwise (changed on disk since it was imported)."""
    source = textwrap.dedent(inspect.getsource(source_of))
    tree = ast.parse(source)
    node = tree.body[0]
    if not isinstance(node, ast.FunctionDef) or node.name != source_of.__name__:
        raise FusionError(f"the source of {source_of.__qualname__} is not to be had")
    code = source_of.__code__
    made = next(c for c in compile(tree, "<source>", "exec").co_consts if isinstance(c, type(code)))
    # (The names it reads and its locals: the bytes may differ by the form of a call.)
    if (made.co_names, made.co_varnames) != (code.co_names, code.co_varnames):
        raise FusionError(f"the source of {source_of.__qualname__} is not what runs (changed since the import)")
    node.decorator_list = []
    return node


def _stored(nodes: Sequence[ast.AST]) -> set[str]:
    """The names ``nodes`` assign (nested functions included: none is allowed anyway)."""
    names = set()
    for node in nodes:
        for sub in ast.walk(node):
            if isinstance(sub, ast.Name) and isinstance(sub.ctx, (ast.Store, ast.Del)):
                names.add(sub.id)
    return names


def _read(body: Sequence[ast.stmt]) -> set[str]:
    """The names ``body`` reads."""
    return {sub.id for node in body for sub in ast.walk(node) if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Load)}


def _loose_jumps(node: ast.AST, in_loop: bool = False) -> bool:
    """Whether a ``break`` or ``continue`` in ``node`` is outside a loop of its own."""
    if isinstance(node, (ast.Break, ast.Continue)):
        return not in_loop
    if isinstance(node, (ast.For, ast.While)):
        return any(_loose_jumps(n, True) for n in node.body) or any(_loose_jumps(n, in_loop) for n in node.orelse)
    return any(_loose_jumps(child, in_loop) for child in ast.iter_child_nodes(node))


def _returns_none(node: ast.AST) -> bool:
    return isinstance(node, ast.Return) and (node.value is None or (isinstance(node.value, ast.Constant) and node.value.value is None))


def _check_body(check: Callable[..., Any], params: list[str], template_names: set[str]) -> tuple[list[ast.stmt], set[str]]:
    """A check's statements to inline (its docstring a no-op string, its asserts, which
    are for the type checker, left out), and the arguments and globals they read."""
    node = _function(check)
    args = [a.arg for a in node.args.args][1:]  # less ``self``
    if args != params:
        raise FusionError(f"{check.__qualname__} takes {args}, not {params}")
    body = list(node.body)
    doc = ast.get_docstring(node)
    if doc is not None:
        body = body[1:]
    body = [stmt for stmt in body if not isinstance(stmt, ast.Assert)]
    if body and _returns_none(body[-1]):
        body.pop()  # passing: on to the next check
    for sub in ast.walk(ast.Module(body=body, type_ignores=[])):
        if _returns_none(sub):
            raise FusionError(f"{check.__qualname__} returns None before its last line")
        if isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.Yield, ast.YieldFrom)):
            raise FusionError(f"{check.__qualname__} defines a function or yields")
    if any(_loose_jumps(stmt) for stmt in body):
        raise FusionError(f"{check.__qualname__} has a break or continue outside its own loop")
    clash = _stored(body) & (set(params) | template_names)
    if clash:
        raise FusionError(f"{check.__qualname__} assigns {sorted(clash)}, which the fused method uses")
    title = " ".join((doc or "").split("\n\n")[0].split())
    comment = ast.Expr(ast.Constant(f"{check.__name__}: {title}"))  # a no-op: a comment that survives
    return [comment, *body], _read(body) - _stored(body) - {"self"}


def fuse(template: Callable[..., Any], loop: str, checks: Sequence[Callable[..., Any]]) -> Callable[..., Any]:
    """``template`` (a method written with ``for check in self.<loop>: refused =
    check(...); if refused is not None: return refused``) with that loop unrolled into
    ``checks``' bodies (bound methods of the one class); returns the new function, to bind
    to the instance. Raises `FusionError` for what cannot be fused (see the module doc),
    or `OSError` when the source is not to be had."""
    node = _function(template)
    found: list[tuple[list[ast.stmt], int, ast.For]] = []
    for parent in ast.walk(node):
        for field in ("body", "orelse"):
            stmts = getattr(parent, field, None)
            if not isinstance(stmts, list):
                continue
            for i, stmt in enumerate(stmts):
                if (
                    isinstance(stmt, ast.For)
                    and isinstance(stmt.iter, ast.Attribute)
                    and stmt.iter.attr == loop
                    and isinstance(stmt.iter.value, ast.Name)
                    and stmt.iter.value.id == "self"
                ):
                    found.append((stmts, i, stmt))
    if len(found) != 1:
        raise FusionError(f"{template.__qualname__} has {len(found)} loops over self.{loop}, not one")
    stmts, index, for_ = found[0]
    target = for_.target.id if isinstance(for_.target, ast.Name) else None
    calls = (n for n in ast.walk(for_) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == target)
    call = next(calls, None)
    if call is None or call.keywords:
        raise FusionError(f"{template.__qualname__}'s loop calls no check with positional arguments")
    params = [a.arg for a in _function(checks[0]).args.args][1:] if checks else []
    template_names = _stored([node]) | {a.arg for a in node.args.args}
    unrolled: list[ast.stmt] = []
    read: set[str] = set()
    # The generated method reads the template's module's globals, and the ones the checks
    # read from theirs (a name that means two things is refused).
    namespace: dict[str, Any] = dict(template.__globals__)
    for check in checks:
        func = getattr(check, "__func__", check)
        body, used = _check_body(func, params, template_names - set(params))
        unrolled.extend(body)
        read |= used
        for name in used - set(params):
            if name not in func.__globals__:
                if hasattr(builtins, name) and name not in namespace:
                    continue
                raise FusionError(f"{func.__qualname__} reads {name!r}, which is not defined where it is")
            value = namespace.setdefault(name, func.__globals__[name])
            if value is not func.__globals__[name]:
                raise FusionError(f"{name!r} means two things to the fused {template.__qualname__}")
    # The arguments the checks read, bound once under their own names.
    bound = [
        ast.Assign(targets=[ast.Name(name, ast.Store())], value=value)
        for name, value in zip(params, call.args, strict=True)
        if name in read and not (isinstance(value, ast.Name) and value.id == name)
    ] if checks else []
    stmts[index : index + 1] = bound + unrolled or [ast.Pass()]
    names = ", ".join(getattr(c, "__name__", "?") for c in checks) or "none"
    doc = ast.get_docstring(node)
    note = ast.Expr(ast.Constant(f"{doc or ''}\n\n(Generated by `txsmarkets.trading.fusion`: the loop over the checks unrolled into {names}.)"))
    node.body[0 : 1 if doc is not None else 0] = [note]  # (in the docstring's place)
    module = ast.fix_missing_locations(ast.Module(body=[node], type_ignores=[]))
    source = ast.unparse(module) + "\n"
    filename = f"<fused {template.__qualname__} #{next(_serial)}>"
    # Where `inspect.getsource` and tracebacks find the generated code.
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    exec(compile(source, filename, "exec"), namespace)
    function: Callable[..., Any] = namespace.pop(node.name)
    return function


def fused(template: Callable[..., Any], loop: str, checks: Sequence[Callable[..., Any]]) -> Callable[..., Any]:
    """`fuse`, made once per configuration; ``template`` itself (the same checks, a call
    each) where that cannot be done: the source not to be had (an install without it) or
    not what runs (changed since the import), or a check that cannot be fused (the tests
    fuse every check of `txsmarkets.trading.checks`)."""
    key = (template, loop, *(getattr(check, "__func__", check) for check in checks))
    function = _made.get(key)
    if function is None:
        try:
            function = fuse(template, loop, checks)
        except (OSError, TypeError, SyntaxError, FusionError):
            function = template
        _made[key] = function
    return function

"""Exceptions as PostHog's error tracking reads them: ``$exception_list``, pure.

Owns turning an exception (or an ``exc_info`` triple) into the list posthog-python
7.x sends: one entry per exception (``type``, ``value``, ``module``, ``mechanism``,
``stacktrace`` of raw frames), the caught exception first, then each cause after the
exception it caused, depth-first, exception-group members after their group; the
``in_app`` rule; source context read from files or loaders, bounded; the artificial
stack of an exception that was never raised; and the marks that keep one client
from capturing one exception twice.

Deliberate differences from posthog-python, each safer and documented in the README:
the exception passed in is not given a ``__traceback__``; ``project_root`` matches
on a path boundary; the standard library and this package's own frames are not
in-app; a stack keeps at most ``MAX_FRAMES`` frames (both ends).

Reads no local variable values (that is ``_code_variables``, opt-in). Knows nothing
about messages, clients or the network.
"""

from __future__ import annotations

import builtins
import contextlib
import linecache
import os
import re
import sys
import sysconfig
import types
from typing import Any, Callable, Dict, FrozenSet, List, Optional, Tuple, Type

import attrs

from .errors import ValidationError

__all__ = [
    "MAX_EXCEPTIONS",
    "MAX_FRAMES",
    "ExcInfo",
    "InAppRule",
    "already_captured",
    "exception_list",
    "mark_captured",
    "resolve_exc_info",
]

ExcInfo = Tuple[Type[BaseException], BaseException, Optional[types.TracebackType]]
Variables = Callable[[types.FrameType], Dict[str, Any]]  # an in-app frame's locals, masked

MAX_EXCEPTIONS = 50  # entries in one $exception_list (posthog-python's bound)
MAX_GROUP_MEMBERS = 1000  # exception-group members inspected in one capture
MAX_FRAMES = 250  # frames of one stack; a RecursionError would otherwise fill the event
CONTEXT_LINES = 5
MAX_LINE_BYTES = 1024
MAX_SOURCE_BYTES = 2 * 1024 * 1024  # larger source files are not read for context
_PACKAGE = __name__.partition(".")[0]
_EXTERNAL = re.compile(r"[\\/](?:dist|site)-packages[\\/]")
_CAPTURED = "__analytics_compat_captured__"
_GROUP: Optional[type] = getattr(builtins, "BaseExceptionGroup", None)  # Python 3.11+


@attrs.frozen
class InAppRule:
    """What makes a frame the application's own: ``project_root``, ``in_app_modules``;
    and, opt-in, what reads an in-app frame's local variables (``_code_variables``)."""

    project_root: Optional[str] = None  # an absolute, normalized path
    modules: Tuple[str, ...] = ()
    variables: Optional[Variables] = None


# -- what to capture ---------------------------------------------------------------------
def resolve_exc_info(exception: Any) -> Optional[Tuple[ExcInfo, bool]]:
    """``(exc_info, synthetic)`` for an exception, an exc_info triple or None (the one
    being handled); None when there is nothing to capture. An exception that was never
    raised gets the current stack, without this package's frames: ``synthetic``."""
    if exception is None:
        exc_type, value, tb = sys.exc_info()
        if value is None or exc_type is None:
            return None
        return (exc_type, value, tb), False
    if isinstance(exception, tuple) and len(exception) == 3:
        exc_type, value, tb = exception
        if not isinstance(value, BaseException):
            return None
        return (type(value) if exc_type is None else exc_type, value, tb), False
    if not isinstance(exception, BaseException):
        raise ValidationError(
            f"exception must be an exception or an exc_info triple, not {type(exception).__name__}",
            field="exception",
        )
    tb = exception.__traceback__
    if tb is not None:
        return (type(exception), exception, tb), False
    return (type(exception), exception, _current_stack()), True


def _current_stack() -> Optional[types.TracebackType]:
    """A traceback of the caller's stack, outermost first, as a raised exception has."""
    frames: List[types.FrameType] = []
    frame: Optional[types.FrameType] = sys._getframe(1)
    while frame is not None:
        if frames or not _is_ours(frame.f_globals.get("__name__")):
            frames.append(frame)
        frame = frame.f_back
    tb: Optional[types.TracebackType] = None
    for each in frames:  # innermost first, so tb_next runs outermost -> innermost
        tb = types.TracebackType(tb, each, each.f_lasti, each.f_lineno)
    return tb


def already_captured(value: BaseException, key: str) -> bool:
    """True if the client whose key is ``key`` already captured this exception."""
    return key in getattr(value, _CAPTURED, ())


def mark_captured(value: BaseException, key: str) -> None:
    # A frozenset of strings: exceptions are pickled (multiprocessing), so the mark must be.
    marks: FrozenSet[str] = getattr(value, _CAPTURED, frozenset())
    with contextlib.suppress(AttributeError, TypeError):  # one that refuses attributes
        setattr(value, _CAPTURED, marks | {key})


# -- the list -------------------------------------------------------------------------
def exception_list(
    exc_info: ExcInfo,
    rule: InAppRule,
    *,
    mechanism: Optional[Dict[str, Any]] = None,
    synthetic: bool = False,
) -> List[Dict[str, Any]]:
    """``$exception_list`` for ``exc_info``: the caught exception first, then its causes."""
    out: List[Dict[str, Any]] = []
    seen: set[int] = set()
    budget = [MAX_GROUP_MEMBERS]
    _walk(exc_info[1], exc_info[2], out, seen, budget, rule, None, None, mechanism, synthetic)
    return out


def _walk(
    value: BaseException,
    tb: Optional[types.TracebackType],
    out: List[Dict[str, Any]],
    seen: set[int],
    budget: List[int],
    rule: InAppRule,
    parent_id: Optional[int],
    source: Optional[str],
    mechanism: Optional[Dict[str, Any]],
    synthetic: bool,
) -> None:
    if id(value) in seen or len(out) >= MAX_EXCEPTIONS:
        return
    seen.add(id(value))
    exception_id = len(out)
    out.append(_entry(value, tb, rule, exception_id, parent_id, source, mechanism, synthetic))
    if value.__suppress_context__:
        cause, how = value.__cause__, "cause"
    else:
        cause, how = value.__context__, "context"
    if cause is not None:
        _walk(cause, cause.__traceback__, out, seen, budget, rule, exception_id, how, None, False)
    if _GROUP is not None and isinstance(value, _GROUP):
        for member in value.exceptions:  # type: ignore[attr-defined]
            if len(out) >= MAX_EXCEPTIONS or budget[0] <= 0:
                break
            budget[0] -= 1
            tb_member = member.__traceback__
            _walk(member, tb_member, out, seen, budget, rule, exception_id, "member", None, False)


def _entry(
    value: BaseException,
    tb: Optional[types.TracebackType],
    rule: InAppRule,
    exception_id: int,
    parent_id: Optional[int],
    source: Optional[str],
    given: Optional[Dict[str, Any]],
    synthetic: bool,
) -> Dict[str, Any]:
    mechanism: Dict[str, Any] = {"exception_id": exception_id}
    if parent_id is None:  # the caught exception: how it was caught
        given = given or {}
        kind, handled = given.get("type"), given.get("handled")
        mechanism["type"] = kind if isinstance(kind, str) and kind else "generic"
        mechanism["handled"] = handled if isinstance(handled, bool) else True
    else:  # a cause: how it is linked to the exception it caused
        if source:
            mechanism["source"] = source
        mechanism["parent_id"] = parent_id
        mechanism["type"] = "chained"
    errno = getattr(value, "errno", None)
    if errno is not None:
        number = errno if isinstance(errno, int) and not isinstance(errno, bool) else str(errno)
        mechanism["meta"] = {"errno": {"number": number}}
    mechanism["synthetic"] = synthetic
    if _GROUP is not None and isinstance(value, _GROUP):
        mechanism["is_exception_group"] = True
    exc_type = type(value)
    module = getattr(exc_type, "__module__", None)
    entry: Dict[str, Any] = {
        "mechanism": mechanism,
        "module": None if module in (None, "builtins", "__builtins__") else str(module),
        "type": str(getattr(exc_type, "__qualname__", None) or exc_type.__name__),
        "value": _message(value),
    }
    frames = _frames(tb, rule)
    if frames:
        entry["stacktrace"] = {"type": "raw", "frames": frames}
    return entry


def _message(value: BaseException) -> str:
    """posthog-python's text: ``message`` or ``detail`` if the exception has one, else str."""
    try:
        text = getattr(value, "message", "") or getattr(value, "detail", "") or value
    except Exception:
        text = value
    try:
        return str(text)
    except Exception:
        try:
            return repr(text)
        except Exception:
            return "<broken repr>"


# -- frames ---------------------------------------------------------------------------
def _frames(tb: Optional[types.TracebackType], rule: InAppRule) -> List[Dict[str, Any]]:
    entries: List[Tuple[types.FrameType, Optional[int]]] = []
    while tb is not None:
        if not _hidden(tb.tb_frame):
            entries.append((tb.tb_frame, tb.tb_lineno))
        tb = tb.tb_next
    if len(entries) > MAX_FRAMES:  # keep where it started and where it broke
        half = MAX_FRAMES // 2
        entries = entries[:half] + entries[-half:]
    return [_frame(frame, lineno, rule) for frame, lineno in entries]


def _hidden(frame: types.FrameType) -> bool:
    """Frames that ask to be left out (``__traceback_hide__``, as sentry and pytest read)."""
    code = frame.f_code
    names = code.co_varnames
    if "__traceback_hide__" in names or "__tracebackhide__" in names or not code.co_flags & 1:
        # Function frames are read only when they name the flag (reading f_locals of a
        # running function is not free); module frames' locals are their globals.
        try:
            local = frame.f_locals
            return bool(local.get("__traceback_hide__") or local.get("__tracebackhide__"))
        except Exception:
            return False
    return False


def _frame(frame: types.FrameType, lineno: Optional[int], rule: InAppRule) -> Dict[str, Any]:
    code = frame.f_code
    path = code.co_filename or None
    module = frame.f_globals.get("__name__")
    module = module if isinstance(module, str) else None
    if lineno is None:
        lineno = frame.f_lineno
    pseudo = path is not None and path.startswith("<") and path.endswith(">")
    abs_path = None if path is None else path if pseudo else os.path.abspath(path)
    out: Dict[str, Any] = {
        "platform": "python",
        "filename": _filename(module, path) or None,
        "abs_path": abs_path,
        "function": code.co_name or "<unknown>",
        "module": module,
        "lineno": lineno,
    }
    out["pre_context"], out["context_line"], out["post_context"] = _context(
        path, lineno, frame.f_globals
    )
    in_app = _in_app(module, abs_path, pseudo, rule)
    if in_app is not None:
        out["in_app"] = in_app
        if in_app and rule.variables is not None:
            variables = rule.variables(frame)
            if variables:
                out["code_variables"] = variables
    return out


def _filename(module: Optional[str], path: Optional[str]) -> Optional[str]:
    """The path below the top-level package's parent; a top-level module's basename."""
    if not path or not module:
        return path
    try:
        if path.endswith(".pyc"):
            path = path[:-1]
        top = module.split(".", 1)[0]
        if top == module:
            return os.path.basename(path)
        top_file = getattr(sys.modules.get(top), "__file__", None)
        if not top_file:
            return path
        return path.split(top_file.rsplit(os.sep, 2)[0], 1)[-1].lstrip(os.sep)
    except Exception:
        return path


def _context(
    path: Optional[str], lineno: Optional[int], module_globals: Dict[str, Any]
) -> Tuple[List[str], Optional[str], List[str]]:
    """Up to five lines either side of ``lineno``; nothing when the source is unreadable."""
    if not path or not lineno or lineno < 1:
        return [], None, []
    try:
        if os.path.getsize(path) > MAX_SOURCE_BYTES:
            return [], None, []
    except (OSError, ValueError):
        pass  # not a file on disk: a loader may still have the source (zip imports)
    try:
        lines = linecache.getlines(path, module_globals)
    except Exception:
        return [], None, []
    index = lineno - 1
    if index >= len(lines):
        return [], None, []
    low, high = max(0, index - CONTEXT_LINES), min(len(lines), index + 1 + CONTEXT_LINES)
    return (
        [_line(text) for text in lines[low:index]],
        _line(lines[index]),
        [_line(text) for text in lines[index + 1 : high]],
    )


def _line(text: str) -> str:
    text = text.strip("\r\n")
    if len(text) * 4 <= MAX_LINE_BYTES:  # cannot be too long even if all 4-byte UTF-8
        return text
    raw = text.encode("utf-8", "surrogatepass")
    if len(raw) <= MAX_LINE_BYTES:
        return text
    return raw[: MAX_LINE_BYTES - 3].decode("utf-8", "ignore") + "..."


# -- in_app ---------------------------------------------------------------------------
def _in_app(
    module: Optional[str], abs_path: Optional[str], pseudo: bool, rule: InAppRule
) -> Optional[bool]:
    """posthog-python's order: in_app_modules, then libraries, then project_root; else
    undecided (the key is left out)."""
    if module is not None:
        if _listed(module, rule.modules):
            return True
        if _is_ours(module):
            return False
    if abs_path is None:
        return None
    if pseudo:
        return False if abs_path.startswith("<frozen ") else None
    if _EXTERNAL.search(abs_path) or abs_path.startswith(_stdlib_prefixes()):
        return False
    root = rule.project_root
    if root and (abs_path.startswith(os.path.join(root, "")) or abs_path == root):
        return True
    return None


def _listed(module: str, prefixes: Tuple[str, ...]) -> bool:
    return any(module == item or module.startswith(item + ".") for item in prefixes)


def _is_ours(module: Any) -> bool:
    return isinstance(module, str) and (module == _PACKAGE or module.startswith(_PACKAGE + "."))


_STDLIB: Optional[Tuple[str, ...]] = None


def _stdlib_prefixes() -> Tuple[str, ...]:
    global _STDLIB
    if _STDLIB is None:
        paths = sysconfig.get_paths()
        found = {paths[name] for name in ("stdlib", "platstdlib") if paths.get(name)}
        found |= {os.path.realpath(p) for p in found}
        _STDLIB = tuple(os.path.join(p, "") for p in sorted(found))
    return _STDLIB

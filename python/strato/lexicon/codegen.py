"""Object validators generated as Python source: the hot path of the generic engine.

A post is about ten objects (facets, their byte slices and features, embeds, strong refs), and a
Python call per object and per field costs more than the checks themselves. So an object def is
turned into the source of one function that checks every field inline (type tests, integer
bounds, array lengths, string formats) and inlines the objects it reaches through refs and open
unions too, down to :data:`MAX_INLINE_DEPTH`; anything else (bytes, CID links, strings with
``const`` or ``enum``, closed unions, defs not loaded yet, cycles) is a call to its compiled
validator. Every
failure raises :class:`~strato.lexicon._invalid.FieldError` carrying the path segments of the
nesting it happened in, exactly as the closures of :mod:`strato.lexicon.compiler` would.

Every name placed in the source is a ``repr`` literal and every number an ``int``, so a schema
cannot inject code.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from strato.lexicon._invalid import FieldError, key_segment
from strato.lexicon.values import check_blob, graphemes, utf8_length
from strato.syntax import FORMAT_CHECKS

Check = Callable[[Any], None]

MAX_INLINE_DEPTH = 4

_MISSING = object()


class Source(Protocol):
    """What the generator needs from the catalog: compiled validators by full reference, the
    object def behind a reference (if loaded), and a compiler for fields it does not inline."""

    def lookup(self, ref: str) -> Check | None: ...

    def resolve(self, ref: str) -> Check: ...

    def object_def(self, ref: str) -> tuple[str, dict[str, Any]] | None: ...

    def compile_field(self, field: dict[str, Any], nsid: str) -> Check: ...


def normalize_ref(ref: str, nsid: str) -> str:
    """The full form of a reference inside document ``nsid``: ``nsid`` for main defs, else
    ``nsid#name`` (``#name`` is local; ``x#main`` is written ``x``, as in ``$type`` values)."""
    if ref.startswith("#"):
        ref = nsid + ref
    return ref.removesuffix("#main")


def object_validator(definition: dict[str, Any], nsid: str, ref: str, source: Source) -> Check:
    """The generated validator of an object def (``ref`` names it, to stop inlining cycles)."""
    generator = _Generator(source, [ref])
    body = generator.object_lines(definition, nsid, "value")
    code = "\n".join(["def check(value):", *("    " + line for line in body)])
    exec(code, generator.namespace)
    check: Check = generator.namespace["check"]
    return check


class _Generator:
    def __init__(self, source: Source, stack: list[str]) -> None:
        self.source = source
        self.stack = stack
        self.counter = 0
        self.namespace: dict[str, Any] = {
            "FieldError": FieldError,
            "MISSING": _MISSING,
            "lookup": source.lookup,
            "resolve": source.resolve,
            "utf8_length": utf8_length,
            "graphemes": graphemes,
            "check_blob": check_blob,
        }

    def fresh(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def bind(self, value: Any) -> str:
        """A new name for ``value`` in the generated code's namespace."""
        name = self.fresh("n")
        self.namespace[name] = value
        return name

    def object_lines(self, definition: dict[str, Any], nsid: str, var: str) -> list[str]:
        lines = [f"if type({var}) is not dict:", "    raise FieldError('expected an object')"]
        for name in definition.get("required", ()):
            message = f"required field {name!r} is missing"
            lines += [f"if {name!r} not in {var}:", f"    raise FieldError({message!r})"]
        nullable = set(definition.get("nullable", ()))
        for name, field in definition["properties"].items():
            item = self.fresh("v")
            lines.append(f"{item} = {var}.get({name!r}, MISSING)")
            test = f"{item} is not MISSING"
            lines.append(
                f"if {test} and {item} is not None:" if name in nullable else f"if {test}:"
            )
            body = self.field_lines(field, nsid, item, key_segment(name))
            lines += ["    " + line for line in body]
        return lines

    def field_lines(self, field: dict[str, Any], nsid: str, var: str, segment: str) -> list[str]:
        """Lines checking ``var`` against ``field``; failures get ``segment`` (if any)."""
        kind = field["type"]
        at = f", {segment!r}" if segment else ""
        if kind == "integer" and "const" not in field and "enum" not in field:
            lines = [f"if type({var}) is not int: raise FieldError('expected an integer'{at})"]
            for key, op, words in (("minimum", "<", "at least"), ("maximum", ">", "at most")):
                if key in field:
                    bound = int(field[key])
                    message = repr(f"must be {words} {bound}")
                    lines.append(f"if {var} {op} {bound}: raise FieldError({message}{at})")
            return lines
        if kind == "boolean" and "const" not in field:
            return [f"if type({var}) is not bool: raise FieldError('expected a boolean'{at})"]
        if kind == "string" and "const" not in field and "enum" not in field:
            return self.string_lines(field, var, segment)
        if kind == "blob":
            return _wrapped(self.blob_lines(field, var), segment)
        if kind == "ref":
            return self.ref_lines(normalize_ref(field["ref"], nsid), var, segment)
        if kind == "union" and not field.get("closed", False):
            return self.union_lines(field, nsid, var, segment)
        if kind == "array":
            return self.array_lines(field, nsid, var, segment)
        return _wrapped([f"{self.bind(self.source.compile_field(field, nsid))}({var})"], segment)

    def string_lines(self, field: dict[str, Any], var: str, segment: str) -> list[str]:
        """A string's type, UTF-8 length, grapheme count and format, in that order."""
        at = f", {segment!r}" if segment else ""
        lines = [f"if type({var}) is not str: raise FieldError('expected a string'{at})"]
        limits: list[str] = []
        n = self.fresh("n")
        min_len, max_len = int(field.get("minLength", 0)), field.get("maxLength")
        if min_len or max_len is not None:
            # code points are 1-4 bytes: count bytes only when the count of code points is
            # not enough to decide
            quick = [f"{n} < {min_len}"] if min_len else []
            if max_len is not None:
                quick.append(f"{n} > {int(max_len) // 4}")
            limits.append(f"if {' or '.join(quick)}:")
            size = self.fresh("s")
            limits.append(f"    {size} = utf8_length({var})")
            if min_len:
                message = repr(f"must be at least {min_len} bytes long")
                limits.append(f"    if {size} < {min_len}: raise FieldError({message})")
            if max_len is not None:
                message = repr(f"must be at most {int(max_len)} bytes long")
                limits.append(f"    if {size} > {int(max_len)}: raise FieldError({message})")
        min_gr, max_gr = int(field.get("minGraphemes", 0)), field.get("maxGraphemes")
        if min_gr:
            message = repr(f"must be at least {min_gr} graphemes long")
            test = f"{n} < {min_gr} or graphemes({var}) < {min_gr}"
            limits.append(f"if {test}: raise FieldError({message})")
        if max_gr is not None:
            message = repr(f"must be at most {int(max_gr)} graphemes long")
            test = f"{n} > {int(max_gr)} and graphemes({var}) > {int(max_gr)}"
            limits.append(f"if {test}: raise FieldError({message})")
        if limits:
            lines += _wrapped([f"{n} = len({var})", *limits], segment)
        if field.get("format"):
            check = self.bind(FORMAT_CHECKS[field["format"]])
            message = repr(f"must be a valid {field['format']}")
            lines.append(f"if not {check}({var}): raise FieldError({message}{at})")
        return lines

    def blob_lines(self, field: dict[str, Any], var: str) -> list[str]:
        """A blob (typed or legacy form), its MIME type against ``accept`` and its size."""
        mime, size = self.fresh("m"), self.fresh("z")
        lines = [f"{mime}, {size} = check_blob({var})"]
        accept = field.get("accept")
        if accept is not None and "*/*" not in accept:
            exact = self.bind(frozenset(a for a in accept if not a.endswith("/*")))
            prefixes = self.bind(tuple(a[:-1] for a in accept if a.endswith("/*")))
            listed = repr(" is not accepted (" + ", ".join(accept) + ")")
            lines += [
                f"if {mime} not in {exact} and not {mime}.startswith({prefixes}):",
                f"    raise FieldError('blob type ' + repr({mime}) + {listed})",
            ]
        if field.get("maxSize") is not None:
            most = int(field["maxSize"])
            lines += [
                f"if {size} is not None and {size} > {most}:",
                f"    raise FieldError('blob is ' + str({size}) + ' bytes, more than the maximum "
                f"{most}')",
            ]
        return lines

    def ref_lines(self, target: str, var: str, segment: str) -> list[str]:
        inline = self.inlined(target, var)
        if inline is None:
            inline = [f"(lookup({target!r}) or resolve({target!r}))({var})"]
        return _wrapped(inline, segment)

    def inlined(self, target: str, var: str) -> list[str] | None:
        """The inline checks of the object def ``target``, when it can be inlined here."""
        if target in self.stack or len(self.stack) > MAX_INLINE_DEPTH:
            return None
        found = self.source.object_def(target)
        if found is None:
            return None
        target_nsid, definition = found
        self.stack.append(target)
        try:
            return self.object_lines(definition, target_nsid, var)
        finally:
            self.stack.pop()

    def union_lines(self, field: dict[str, Any], nsid: str, var: str, segment: str) -> list[str]:
        at = f", {segment!r}" if segment else ""
        kind = self.fresh("k")
        lines = [
            f"if type({var}) is not dict:",
            f"    raise FieldError('expected an object (a union variant)'{at})",
            f"{kind} = {var}.get('$type')",
            f"if type({kind}) is not str or not {kind}:",
            f"    raise FieldError('a union variant needs a $type'{at})",
            f"{kind} = {kind}.removesuffix('#main')",
        ]
        called: list[str] = []
        keyword = "if"
        for target in dict.fromkeys(normalize_ref(ref, nsid) for ref in field["refs"]):
            body = self.inlined(target, var)
            if body is None:
                called.append(target)
                continue
            lines.append(f"{keyword} {kind} == {target!r}:")
            lines += ["    " + line for line in _wrapped(body, segment)]
            keyword = "elif"
        if called:
            known = self.bind(frozenset(called))
            lines.append(f"{keyword} {kind} in {known}:")
            call = [f"(lookup({kind}) or resolve({kind}))({var})"]
            lines += ["    " + line for line in _wrapped(call, segment)]
        return lines

    def array_lines(self, field: dict[str, Any], nsid: str, var: str, segment: str) -> list[str]:
        at = f", {segment!r}" if segment else ""
        lines = [f"if type({var}) is not list: raise FieldError('expected an array'{at})"]
        least, most = field.get("minLength"), field.get("maxLength")
        if least:
            message = repr(f"must have at least {int(least)} items")
            lines.append(f"if len({var}) < {int(least)}: raise FieldError({message}{at})")
        if most is not None:
            message = repr(f"must have at most {int(most)} items")
            lines.append(f"if len({var}) > {int(most)}: raise FieldError({message}{at})")
        item, index = self.fresh("x"), self.fresh("j")
        body = self.field_lines(field["items"], nsid, item, "")
        extra = [f"    err.segments.append({segment!r})"] if segment else []
        return [
            *lines,
            f"for {index}, {item} in enumerate({var}):",
            "    try:",
            *("        " + line for line in body),
            "    except FieldError as err:",
            f"        err.segments.append(f'[{{{index}}}]')",
            *("    " + line for line in extra),
            "        raise",
        ]


def _wrapped(body: list[str], segment: str) -> list[str]:
    """``body`` with failures getting ``segment`` added to their path."""
    if not segment:
        return body
    return [
        "try:",
        *("    " + line for line in body),
        "except FieldError as err:",
        f"    err.segments.append({segment!r})",
        "    raise",
    ]

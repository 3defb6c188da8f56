"""Validation of EHF documents (PEPPOL BIS Billing 3.0 UBL) by the official rule sets: the CEN EN 16931 rules for
UBL and the PEPPOL rules, both precompiled to XSLT (`rules/`), run with Saxon (saxonche). Each produces SVRL; every
`svrl:failed-assert` with flag "fatal" is a rule the document breaks, the others ("warning") are advice.

Compiling the CEN stylesheet (900 KB) costs far more than running it, so each stylesheet is compiled once per
process, on first use (or by `compile_rule_sets`), and kept. SaxonC runs in a native (GraalVM) isolate, and its Python
binding does not promise that its objects (the processor, compiled stylesheets, parsed documents) may be used from
several threads at once; so building the cache and every validation happen under one lock, one validation at a time
per process. That costs little: a validation takes milliseconds for a usual invoice.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from lxml import etree

RULES_DIR = Path(__file__).resolve().parent / "rules"
RULE_SETS = ("cen-ubl", "peppol")  # file stems in RULES_DIR, run in this order
SVRL_NS = "http://purl.oclc.org/dsdl/svrl"
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True)


class Flag(StrEnum):
    FATAL = "fatal"
    WARNING = "warning"


@dataclass(frozen=True)
class RuleFailure:
    """One assertion of a rule set that the document does not meet."""

    rule_id: str  # e.g. "BR-CO-16", "PEPPOL-EN16931-R004"
    flag: str  # "fatal" (the document is invalid) or "warning"
    text: str  # the rule set's own message
    location: str  # XPath of the offending node
    rule_set: str  # "cen-ubl" or "peppol"

    @property
    def fatal(self) -> bool:
        return self.flag == Flag.FATAL


class InvalidEhf(Exception):
    """A document breaks at least one fatal rule; `failures` lists them."""

    def __init__(self, failures: Sequence[RuleFailure]) -> None:
        self.failures = tuple(failures)
        self.rule_ids = sorted({failure.rule_id for failure in self.failures})
        super().__init__("EHF document breaks the rules " + ", ".join(self.rule_ids))


class _Validator:
    """The Saxon processor and the compiled rule sets of this process (see the module docstring)."""

    def __init__(self) -> None:
        from saxonche import PySaxonProcessor  # native library: loaded only when a document is validated

        self.processor = PySaxonProcessor(license=False)
        compiler = self.processor.new_xslt30_processor()
        compiler.set_cwd(str(RULES_DIR))
        self.executables: dict[str, Any] = {}
        for name in RULE_SETS:
            path = RULES_DIR / f"{name}.xslt"
            executable = compiler.compile_stylesheet(stylesheet_file=str(path))
            if executable is None:
                raise RuntimeError(f"Could not compile the rule set {path}")
            self.executables[name] = executable

    def run(self, xml: bytes) -> list[RuleFailure]:
        text = xml.decode("utf-8")
        # Saxon reports a document that is not XML as an exception; lxml names the line and column first.
        etree.fromstring(xml, _PARSER)
        node = self.processor.parse_xml(xml_text=text)
        failures: list[RuleFailure] = []
        for name, executable in self.executables.items():
            svrl = executable.transform_to_string(xdm_node=node)
            if svrl is None:
                raise RuntimeError(f"The rule set {name} produced no report")
            failures.extend(_failures(name, svrl.encode("utf-8")))
        return failures


_lock = threading.Lock()
_validator: _Validator | None = None


def _failures(rule_set: str, svrl: bytes) -> list[RuleFailure]:
    report = etree.fromstring(svrl, _PARSER)
    failures = []
    for element in report.iter(f"{{{SVRL_NS}}}failed-assert", f"{{{SVRL_NS}}}successful-report"):
        text_element = element.find(f"{{{SVRL_NS}}}text")
        text = " ".join("".join(text_element.itertext()).split()) if text_element is not None else ""
        failures.append(RuleFailure(
            rule_id=element.get("id", ""), flag=element.get("flag", Flag.FATAL.value), text=text,
            location=element.get("location", ""), rule_set=rule_set,
        ))
    return failures


def _loaded() -> _Validator:
    global _validator
    if _validator is None:
        _validator = _Validator()
    return _validator


def compile_rule_sets() -> None:
    """Compile both rule sets now rather than on the first validation (a worker may call it when it starts)."""
    with _lock:
        _loaded()


def check_ehf(xml: bytes) -> list[RuleFailure]:
    """Every failed assertion of both rule sets, fatal and warnings. Blocking (milliseconds for a few lines, some
    tenths of a second for hundreds): async code calls it through asyncio.to_thread."""
    with _lock:
        return _loaded().run(xml)


def validate_ehf(xml: bytes) -> list[RuleFailure]:
    """The fatal failures of both rule sets: empty when the document is valid EHF (PEPPOL BIS Billing 3.0)."""
    return [failure for failure in check_ehf(xml) if failure.fatal]


def ehf_warnings(xml: bytes) -> list[RuleFailure]:
    """The rule sets' warnings (not errors: a document with warnings is valid)."""
    return [failure for failure in check_ehf(xml) if not failure.fatal]


def assert_valid_ehf(xml: bytes) -> None:
    """Raise InvalidEhf when the document breaks a fatal rule of either rule set."""
    failures = validate_ehf(xml)
    if failures:
        raise InvalidEhf(failures)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m invoicing.peppol FILE...`: every failure and warning of each document; exit status 1 when one
    breaks a fatal rule."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m invoicing.peppol", description=main.__doc__)
    parser.add_argument("files", nargs="+", type=Path, help="EHF (UBL) documents")
    invalid = False
    for path in parser.parse_args(argv).files:
        failures = check_ehf(path.read_bytes())
        fatal = [failure for failure in failures if failure.fatal]
        invalid = invalid or bool(fatal)
        print(f"{path}: {'INVALID' if fatal else 'valid'} ({len(fatal)} fatal, {len(failures) - len(fatal)} warnings)")
        for failure in failures:
            print(f"  {failure.flag} {failure.rule_id} ({failure.rule_set}): {failure.text}\n    at {failure.location}")
    return 1 if invalid else 0


if __name__ == "__main__":
    raise SystemExit(main())

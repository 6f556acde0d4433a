"""The catalog's T2T-named specs against Tensor2Tensor's own values (tests/t2t_reference.yaml).

Every hparams set, range and problem whose catalog entry names a T2T source must have a reference
entry, and every reference entry a catalog spec; each effective value of a set is compared, the
schedule's peak learning rate included; a spec that deliberately differs must say so in
`differs_from_t2t`, and the values it differs in must really differ.
"""

from __future__ import annotations

import ast
import math
import operator
from pathlib import Path

import pytest
import yaml

from runner import api
from runner.specs import catalog as catalog_mod
from runner.specs.resolve import load_problem, resolve_range
from runner.training.schedules import learning_rate_fn

REFERENCE = yaml.safe_load((Path(__file__).parent / "t2t_reference.yaml").read_text())
CATALOG = catalog_mod.Catalog.for_file(None)
KINDS = {"hparams": "hparams", "ranges": "range", "problems": "problem"}


def _catalog_data(kind: str) -> dict[str, dict]:
    return {name: catalog_mod.load(path).data for name, path in CATALOG.names(KINDS[kind]).items()}


def _arith(text: str) -> float:
    """Evaluate the reference's arithmetic (numbers, + - * / **) without eval()."""
    ops = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
           ast.Pow: operator.pow, ast.USub: operator.neg}

    def walk(node):
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            return node.value
        if isinstance(node, ast.BinOp) and type(node.op) in ops:
            return ops[type(node.op)](walk(node.left), walk(node.right))
        if isinstance(node, ast.UnaryOp) and type(node.op) in ops:
            return ops[type(node.op)](walk(node.operand))
        raise ValueError(f"not plain arithmetic: {text}")

    return float(walk(ast.parse(str(text), mode="eval")))


def _merged(name: str) -> dict:
    """A reference entry with its `extends` chain applied (values, t2t_differs, ours_only)."""
    entry = REFERENCE["hparams"][name]
    root = {"values": dict(REFERENCE["every_set"]["values"]), "t2t_differs": {},
            "ours_only": dict(REFERENCE["every_set"]["ours_only"])}
    base = _merged(entry["extends"]) if entry.get("extends") else root
    merged = {key: {**base[key], **(entry.get(key) or {})} for key in ("values", "t2t_differs", "ours_only")}
    for key in merged["t2t_differs"]:
        merged["values"].pop(key, None)
    merged["values"] = {k: v for k, v in merged["values"].items() if v is not None}
    return merged


def _dotted(data: dict, key: str):
    for part in key.split("."):
        data = data[part]
    return data


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_t2t_named_spec_has_a_reference_entry_and_back(kind):
    specs = _catalog_data(kind)
    claimed = {name for name, data in specs.items() if data.get("t2t_source")}
    assert claimed == set(REFERENCE[kind]), (
        f"{kind}: catalog specs naming a T2T source and reference entries must match; "
        f"only in the catalog: {sorted(claimed - set(REFERENCE[kind]))}, "
        f"only in the reference: {sorted(set(REFERENCE[kind]) - claimed)}")
    for name, entry in REFERENCE[kind].items():
        note = specs[name].get("differs_from_t2t")
        assert bool(note) == entry["differs"], f"{name}: differs_from_t2t note vs reference 'differs: {entry['differs']}'"
        assert specs[name]["t2t_source"].split()[0] == entry["source"].split()[0], f"{name}: source files disagree"
    # A spec that says it is T2T's in its description names its T2T source.
    for name, data in specs.items():
        if "T2T" in str(data.get("description", "")).split("—")[0].split(" (")[0]:
            assert data.get("t2t_source"), f"{name}: the description claims T2T but no t2t_source is given"


@pytest.mark.parametrize("name", sorted(REFERENCE["hparams"]))
def test_hparams_set_holds_t2t_values(name):
    entry, ref = REFERENCE["hparams"][name], _merged(name)
    hparams = api.hparams(name)
    ours = hparams.model_dump(mode="json")
    unaccounted = set(ours) - set(ref["values"]) - set(ref["t2t_differs"]) - set(ref["ours_only"])
    assert not unaccounted, f"{name}: fields with no T2T value and no reason given: {sorted(unaccounted)}"
    for field, t2t_value in ref["values"].items():
        assert field in ours, f"{name}: reference field {field} is not an hparam of {type(hparams).__name__}"
        if isinstance(t2t_value, float):
            assert ours[field] == pytest.approx(t2t_value, rel=1e-12), f"{name}.{field}: ours {ours[field]}, T2T {t2t_value}"
        else:
            assert ours[field] == t2t_value, f"{name}.{field}: ours {ours[field]!r}, T2T {t2t_value!r}"
    for field, t2t_value in ref["t2t_differs"].items():
        assert ours[field] != t2t_value, f"{name}.{field} is listed as differing from T2T but equals it"
    if ref["t2t_differs"]:
        assert entry["differs"] or _merged_differs(name), f"{name}: differs in values but is not marked differs"
    # The schedule's peak: after warmup every one of these schedules is at its highest.
    rate = learning_rate_fn(hparams, train_steps=10**7)
    peak_step = max(hparams.learning_rate_warmup_steps, 1)
    ours_peak = max(rate(peak_step), rate(peak_step + 1))
    assert ours_peak == pytest.approx(_arith(entry["peak_learning_rate"]), rel=1e-6), (
        f"{name}: peak learning rate {ours_peak:.6g}, T2T's {_arith(entry['peak_learning_rate']):.6g}")


def _merged_differs(name: str) -> bool:
    entry = REFERENCE["hparams"][name]
    return entry["differs"] or bool(entry.get("extends") and _merged_differs(entry["extends"]))


@pytest.mark.parametrize("name", sorted(REFERENCE["ranges"]))
def test_hparams_range_holds_t2t_ranges(name):
    entry = REFERENCE["ranges"][name]
    rng, _, _ = resolve_range(CATALOG, name)
    assert rng.base == entry["base"]
    ours = {key: value.model_dump(mode="json") for key, value in rng.ranges.items()}
    for key, expected in entry["ranges"].items():
        got = {k: v for k, v in ours[key].items() if k in expected}
        assert got == expected, f"{name}.{key}: ours {ours[key]}, T2T {expected}"
    extra = set(ours) - set(entry["ranges"])
    assert entry["differs"] and extra, f"{name}: ranges beyond T2T's must be explained (differs_from_t2t)"
    for key in entry.get("t2t_differs", {}):
        assert key not in ours, f"{name}: {key} is listed as T2T-only"


@pytest.mark.parametrize("name", sorted(REFERENCE["problems"]))
def test_problem_holds_t2t_values(name):
    entry = REFERENCE["problems"][name]
    data = load_problem(CATALOG, name, [], None, None).model_dump(mode="json")
    for key, expected in entry["values"].items():
        assert _dotted(data, key) == expected, f"{name}.{key}: ours {_dotted(data, key)!r}, T2T {expected!r}"
    for key, t2t_value in (entry.get("t2t_differs") or {}).items():
        try:
            ours = _dotted(data, key)
        except (KeyError, TypeError):
            continue  # we have no such setting: a difference by construction
        assert ours != t2t_value, f"{name}.{key} is listed as differing from T2T but equals it"


def test_arith_refuses_anything_but_arithmetic():
    assert _arith("5000 * 512**-0.5 * 4000**-0.5 * 0.002 * 0.5") == pytest.approx(5.0 * 512**-0.5 * 4000**-0.5)
    with pytest.raises(ValueError):
        _arith("__import__('os')")
    assert math.isclose(_arith("0.1 * 0.002"), 2e-4)

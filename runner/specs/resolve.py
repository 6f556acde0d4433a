"""Resolution: a recipe + its specs + overrides -> one frozen `Experiment`.

Order of precedence, lowest first: the hparams schema's defaults, the `extends:` chain from
root to leaf, the recipe's `overrides:`, then `-o key=value` from the command line.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from runner import registry
from runner.specs.hparams_base import TrainingHparams
from runner.specs import catalog as catalog_mod
from runner.specs.catalog import Catalog
from runner.specs.errors import Location, SpecError
from runner.specs.experiment import Experiment, compute_hash, global_batch, make_experiment
from runner.specs.loader import Document
from runner.specs.overrides import Override, apply, from_mapping, parse_cli
from runner.specs.problem_base import ProblemSpec
from runner.specs.schemas import HparamsRangeSpec, HparamsSetSpec, ModelSpec, RecipeSpec, ResourcesSpec, TrainSpec
from runner.specs.validation import Origins, validate

RECIPE_SECTIONS = ("problem", "model", "hparams", "plugins", "train", "decode", "resources", "tune", "tracking")


def _named(doc: Document, path: str | Path) -> dict[str, Any]:
    """The document's data with `name` filled from the file stem (and refused if written)."""
    if "name" in doc.data:
        raise SpecError("'name' comes from the file name; remove this key", doc.where(("name",), prefer_key=True),
                        "name")
    data = copy.deepcopy(doc.data)
    data["name"] = Path(path).stem
    return data


import_plugins = registry.import_plugins  # the one importer (once per process, located errors)


def load_problem(cat: Catalog, ref: str, overrides: list[Override] = (), where: Location | None = None,
                 referrer: str | None = None) -> ProblemSpec:
    path = cat.locate("problem", ref, where, referrer, "problem")
    doc = catalog_mod.load(path)
    data = _named(doc, path)
    origins: Origins = {}
    for o in overrides:
        if o.path[1:] == ("name",):
            raise SpecError("a problem's name comes from its file name and names its data cache folder; it cannot "
                            "be overridden (to use another problem, write -o problem=NAME)", o.where, "problem.name")
        apply(data, o.path[1:], o.value, o.where)
        origins[o.path[1:]] = o.where
    if isinstance(data.get("plugins"), list):
        import_plugins([str(m) for m in data["plugins"]], doc.where(("plugins",)))
    family_name = data.get("family")
    if not isinstance(family_name, str):
        raise SpecError(
            f"required field 'family' is missing or not a string; expected one of: {', '.join(sorted(registry.FAMILIES))}",
            doc.where(("family",)), "family")
    try:
        spec_cls = registry.family(family_name).config_class()
    except registry.UnknownName as exc:
        raise SpecError(str(exc), origins.get(("family",)) or doc.where(("family",)), "family") from None
    return validate(spec_cls, data, doc, origins=origins)


def load_model(cat: Catalog, ref: str, where: Location | None = None, referrer: str | None = None) -> ModelSpec:
    path = cat.locate("model", ref, where, referrer, "model")
    doc = catalog_mod.load(path)
    data = _named(doc, path)
    spec = validate(ModelSpec, data, doc)
    import_plugins(spec.plugins, doc.where(("plugins",)))
    if not spec.implementation:
        spec = spec.model_copy(update={"implementation": spec.name})
    try:
        registry.model(spec.implementation)
    except registry.UnknownName as exc:
        raise SpecError(str(exc), doc.where(("implementation",)), "implementation") from None
    return spec


def load_hparams_chain(cat: Catalog, ref: str, where: Location | None = None,
                       referrer: str | None = None) -> tuple[list[HparamsSetSpec], list[Document]]:
    """The `extends:` chain from the named set up to its root (leaf first)."""
    chain: list[HparamsSetSpec] = []
    docs: list[Document] = []
    seen: list[str] = []
    while True:
        path = cat.locate("hparams", ref, where, referrer, "extends" if chain else "hparams")
        key = str(catalog_mod.absolute(path))
        if key in seen:
            cycle = " -> ".join([s.name for s in chain] + [Path(path).stem])
            raise SpecError(f"'extends' forms a cycle: {cycle}; a set may not inherit from itself", where, "extends")
        seen.append(key)
        doc = catalog_mod.load(path)
        spec = validate(HparamsSetSpec, _named(doc, path), doc)
        if chain and spec.model != chain[0].model:
            raise SpecError(
                f"'{chain[-1].name}' extends '{spec.name}', which is a set for model '{spec.model}', "
                f"not '{chain[0].model}'", where, "extends")
        chain.append(spec)
        docs.append(doc)
        if spec.extends is None:
            return chain, docs
        ref, where, referrer = spec.extends, doc.where(("extends",)), str(path)


def resolve_hparams(cat: Catalog, ref: str, model: ModelSpec, overrides: list[Override] = (),
                    where: Location | None = None, referrer: str | None = None) -> TrainingHparams:
    """Merge an hparams set's chain and overrides, then validate against the model's schema."""
    chain, docs = load_hparams_chain(cat, ref, where, referrer)
    leaf, leaf_doc = chain[0], docs[0]
    if leaf.model != model.name:
        raise SpecError(
            f"hparams set '{leaf.name}' is for model '{leaf.model}', but the recipe's model is '{model.name}'; "
            f"choose a set for '{model.name}' (see `runner list hparams`)", where, "hparams")
    values: dict[str, Any] = {}
    origins: Origins = {}
    for spec, doc in zip(reversed(chain), reversed(docs)):
        for key, value in spec.hparams.items():
            values[key] = copy.deepcopy(value)
            origins[(key,)] = doc.where(("hparams", key), prefer_key=True)
    for o in overrides:
        apply(values, o.path[1:], o.value, o.where)
        origins[o.path[1:]] = o.where
    schema = registry.model_for(model).config_class()
    return validate(schema, values, leaf_doc, prefix=("hparams",), origins=origins, field_prefix="hparams")


def resolve_range(cat: Catalog, ref: str, where: Location | None = None,
                  referrer: str | None = None) -> tuple[HparamsRangeSpec, TrainingHparams, ModelSpec]:
    """A range, its base set resolved, and a check that every ranged hparam exists there."""
    path = cat.locate("range", ref, where, referrer, "range")
    doc = catalog_mod.load(path)
    spec = validate(HparamsRangeSpec, _named(doc, path), doc)
    chain, _ = load_hparams_chain(cat, spec.base, doc.where(("base",)), str(path))
    model = load_model(cat, chain[0].model, doc.where(("base",)), str(path))
    base = resolve_hparams(cat, spec.base, model, where=doc.where(("base",)), referrer=str(path))
    fields = type(base).model_fields
    for key, rng in spec.ranges.items():
        loc = doc.where(("ranges", key), prefer_key=True)
        if key not in fields:
            from runner.specs.errors import did_you_mean

            raise SpecError(f"hparam '{key}' is not in set '{spec.base}' (model '{model.name}')"
                            f"{did_you_mean(key, fields)}", loc, f"ranges.{key}")
        probes = getattr(rng, "values", None) or getattr(rng, "choices", None) or [rng.low, rng.high]
        for probe in probes:  # every value the search may try must be valid for the schema
            try:
                type(base).model_validate({**base.model_dump(), key: probe})
            except ValidationError as exc:
                msg = exc.errors()[0]["msg"].removeprefix("Value error, ")
                raise SpecError(f"the range includes {probe!r}, which the schema rejects: {msg}", loc,
                                f"ranges.{key}") from None
    return spec, base, model


def resolve(recipe_ref: str | Path, cli_overrides: list[str] | tuple[str, ...] = ()) -> Experiment:
    """Resolve a recipe file (or catalog recipe name) and overrides into an Experiment."""
    recipe_ref = str(recipe_ref)
    cat = Catalog.for_file(recipe_ref if catalog_mod.is_path(recipe_ref) else None)
    path = cat.locate("recipe", recipe_ref) if not Path(recipe_ref).is_file() else Path(recipe_ref)
    cat = Catalog.for_file(path)
    doc = catalog_mod.load(path)
    if is_experiment_document(doc):
        return resolve_experiment(doc, cli_overrides)

    overrides = from_mapping(doc.data.get("overrides"), lambda k: doc.where(("overrides", k), prefer_key=True))
    overrides += parse_cli(cli_overrides)
    raw = _named(doc, path)
    origins: Origins = {}
    nested: dict[str, list[Override]] = {"problem": [], "hparams": []}
    for o in overrides:
        if o.section in nested and len(o.path) > 1:
            nested[o.section].append(o)
        else:
            apply(raw, o.path, o.value, o.where)
            origins[o.path] = o.where
    # Like a compiler, report every independent error in one pass: a bad recipe field does not hide
    # an unknown problem name; only what depends on a failed part (hparams on the model) is skipped.
    errors: list[SpecError] = []

    def attempt(step, *args):
        try:
            return step(*args)
        except SpecError as exc:
            errors.append(exc)
            return None

    recipe = attempt(lambda: validate(RecipeSpec, raw, doc, origins=origins))

    def at(field: str) -> Location:
        return origins.get((field,)) or doc.where((field,))

    def ref(field: str) -> str | None:
        value = getattr(recipe, field) if recipe is not None else raw.get(field)
        return value if isinstance(value, str) and value else None

    plugins = recipe.plugins if recipe is not None else raw.get("plugins")
    if isinstance(plugins, list) and all(isinstance(m, str) for m in plugins):
        attempt(import_plugins, plugins, at("plugins"))
    problem = attempt(load_problem, cat, ref("problem"), nested["problem"], at("problem"), str(path)) \
        if ref("problem") else None
    model = attempt(load_model, cat, ref("model"), at("model"), str(path)) if ref("model") else None
    hparams = attempt(resolve_hparams, cat, ref("hparams"), model, nested["hparams"], at("hparams"), str(path)) \
        if ref("hparams") and model is not None else None
    if ref("hparams") and model is None:  # the set's own errors (an unknown name) do not depend on the model
        attempt(load_hparams_chain, cat, ref("hparams"), at("hparams"), str(path))
    if recipe is not None and recipe.tune is not None and model is not None:
        tune_where = origins.get(("tune", "range")) or doc.where(("tune", "range"))
        found = attempt(resolve_range, cat, recipe.tune.range, tune_where, str(path))
        if found is not None and found[2].name != model.name:
            errors.append(SpecError(f"range '{found[0].name}' varies a set for model '{found[2].name}', "
                                    f"but the recipe trains '{model.name}'", tune_where, "tune.range"))
    if recipe is not None and recipe.train.precision == "fp16" and recipe.resources.accelerator != "gpu":
        errors.append(SpecError(f"fp16 needs resources.accelerator gpu (its gradient scaler is CUDA's), not "
                                f"{recipe.resources.accelerator}; use bf16 or fp32",
                                origins.get(("train", "precision")) or doc.where(("train", "precision")),
                                "train.precision"))
    if errors:
        raise SpecError.merge(errors)
    return make_experiment(
        recipe=recipe.name, description=recipe.description, problem=problem, model=model,
        hparams_set=Path(recipe.hparams).stem, hparams=hparams, train=recipe.train, decode=recipe.decode,
        resources=recipe.resources, tune=recipe.tune, tracking=recipe.tracking, plugins=recipe.plugins,
    )


def is_experiment_document(doc: Document) -> bool:
    """A run folder's `experiment.yaml`: an already resolved spec (sections are mappings, not names)."""
    return "spec_hash" in doc.data or isinstance(doc.data.get("problem"), dict)


def resolve_experiment(doc: Document, cli_overrides: list[str] | tuple[str, ...] = ()) -> Experiment:
    """A resolved experiment file (a run folder's experiment.yaml), plus `-o` overrides, re-validated.

    Nothing is looked up in a catalog: the file holds every value. Without overrides the file's
    spec_hash must still match its values (a hand-edited copy is named, not silently renamed);
    with overrides it is a new spec with its own hash.
    """
    data = copy.deepcopy(doc.data)
    recorded = data.pop("spec_hash", None)
    data.pop("global_batch", None)  # derived: recomputed below
    overrides = parse_cli(cli_overrides)
    origins: Origins = {}
    for o in overrides:
        if o.section in ("problem", "model", "hparams") and len(o.path) == 1:
            raise SpecError(f"an experiment file holds its {o.section} resolved; change values inside it "
                            f"(e.g. -o {o.section}.<field>=VALUE), or run a recipe to use another {o.section}",
                            o.where)
        apply(data, o.path, o.value, o.where)
        origins[o.path] = o.where

    def section(name: str) -> dict[str, Any]:
        value = data.get(name)
        if not isinstance(value, dict):
            raise SpecError(f"expected the resolved {name} as a mapping of fields (is this a run folder's "
                            "experiment.yaml?)", doc.where((name,)), name)
        return value

    def inner(name: str) -> Origins:
        return {path[1:]: where for path, where in origins.items() if path[0] == name and len(path) > 1}

    from runner.specs.experiment import plugin_modules, verified_before_import

    problem_data, model_data, hparams_data = section("problem"), section("model"), section("hparams")
    modules = plugin_modules(data)
    if modules and recorded is not None and not verified_before_import(doc.data):
        # Plugins are code: a file that records a spec_hash its values do not have was edited, and
        # the modules it names are not imported (deleting the line makes it the user's own spec).
        raise SpecError(f"its values do not hash to the spec_hash it records ({str(recorded)[:12]}), so its "
                        f"plugins ({', '.join(map(str, modules))}) were not imported: was it edited by hand? To use "
                        "the edited spec, delete the `spec_hash:` line", doc.where(("spec_hash",)), "spec_hash")
    import_plugins(modules, doc.where(("plugins",)))
    try:
        problem_cls = registry.family(str(problem_data.get("family"))).config_class()
    except registry.UnknownName as exc:
        raise SpecError(str(exc), doc.where(("problem", "family")), "problem.family") from None
    model = validate(ModelSpec, model_data, doc, prefix=("model",), origins=inner("model"), field_prefix="model")
    try:
        hparams_cls = registry.model_for(model).config_class()
    except registry.UnknownName as exc:
        raise SpecError(str(exc), doc.where(("model", "implementation")), "model.implementation") from None
    fields = dict(data)
    fields["problem"] = validate(problem_cls, problem_data, doc, prefix=("problem",), origins=inner("problem"),
                                 field_prefix="problem")
    fields["model"] = model
    fields["hparams"] = validate(hparams_cls, hparams_data, doc, prefix=("hparams",), origins=inner("hparams"),
                                 field_prefix="hparams")
    for name, cls in (("train", TrainSpec), ("resources", ResourcesSpec)):
        fields[name] = validate(cls, section(name), doc, prefix=(name,), origins=inner(name), field_prefix=name)
    fields["global_batch"] = global_batch(fields["hparams"], fields["train"], fields["resources"])
    experiment = validate(Experiment, fields, doc, origins=origins)
    spec_hash = compute_hash(experiment)
    if recorded is not None and not overrides and recorded != spec_hash:
        raise SpecError(f"its values hash to {spec_hash[:12]}, not the spec_hash it records ({str(recorded)[:12]}): "
                        "was it edited by hand? To train the edited spec, delete the `spec_hash:` line "
                        "(it then gets its own run folder)", doc.where(("spec_hash",)), "spec_hash")
    return experiment.model_copy(update={"spec_hash": spec_hash})

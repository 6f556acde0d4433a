"""The old home of the shared training hparams: they live in runner/specs/hparams_base.py now
(specs are torch-free and import nothing from models/). Kept so plugins and model hparams
files that import from here keep working."""

from runner.specs.hparams_base import (  # noqa: F401
    SCHEDULE_FACTORS,
    ConvInitializer,
    TrainingHparams,
    added_field,
    conv_initializer_field,
    unhashed_defaults,
)

"""An exported bundle logged to MLflow as the run's model (MLflow 3 LoggedModel, pyfunc flavour).

`log_bundle(run_dir, bundle_dir)` finds the run's MLflow run (mlflow_run.json) and logs the
bundle folder as a pyfunc model named "model" in it, so the MLflow UI lists it under the run's
models and `mlflow.pyfunc.load_model("models:/<model_id>")` serves it: text runs take a list
of input lines and return decoded lines; image classifiers take uint8 pixels [B, H, W, C]
and return class probabilities. A run that was never tracked logs nothing (returns None).
"""

from __future__ import annotations

import contextlib
import sys

from runner.tracking.runs import TrackingError, client, read_run_file
from runner.tracking.uri import display

MODEL_NAME = "model"


def _pyfunc_class():
    import mlflow.pyfunc

    class RunnerBundle(mlflow.pyfunc.PythonModel):
        """Serves a `runner export` bundle through its own load.py."""

        def load_context(self, context):
            import importlib.util

            folder = context.artifacts["bundle"]
            spec = importlib.util.spec_from_file_location("runner_bundle_load", f"{folder}/load.py")
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            self.bundle = module.load(folder)

        def predict(self, context, model_input, params=None):
            if self.bundle.task == "classify":
                return self.bundle.classify(model_input).numpy()
            lines = list(model_input.iloc[:, 0]) if hasattr(model_input, "iloc") else list(model_input)
            return self.bundle.translate([str(line) for line in lines])

    return RunnerBundle


def log_bundle(run_dir: str, bundle_dir: str) -> str | None:
    """Log the bundle as the run's model; returns the model URI, or None for an untracked run."""
    remembered = read_run_file(run_dir)
    if not remembered:
        return None
    uri, run_id = remembered["uri"], remembered["run_id"]
    client(uri)  # checks the URI and quiets MLflow's INFO logs
    import mlflow
    import mlflow.pyfunc

    try:
        mlflow.set_tracking_uri(uri)
        status = mlflow.get_run(run_id).info.status
        with contextlib.redirect_stdout(sys.stderr):
            with mlflow.start_run(run_id=run_id):
                info = mlflow.pyfunc.log_model(
                    name=MODEL_NAME, python_model=_pyfunc_class()(), artifacts={"bundle": bundle_dir},
                    pip_requirements=["torch", "numpy", "tokenizers"],  # no dependency inference: it loads the model
                )
            # start_run reopened the finished run; give it back its own end status.
            mlflow.MlflowClient(uri).set_terminated(run_id, status=status)
    except TrackingError:
        raise
    except Exception as exc:  # noqa: BLE001 - MLflow raises many kinds; all mean "cannot log"
        raise TrackingError(f"cannot log the bundle to MLflow at {display(uri)}: {type(exc).__name__}: "
                            f"{str(exc)[:300]}") from exc
    return info.model_uri

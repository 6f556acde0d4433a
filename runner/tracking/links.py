"""Where a user looks at a run: its MLflow page for a server URI, and the `mlflow ui` command
(with the page it will show) for a local store. Plain strings; nothing here contacts MLflow."""

from __future__ import annotations

from runner.tracking.uri import display

LOCAL_UI = "http://127.0.0.1:5000"
# MLflow 3's UI opens in its GenAI view unless the page names the workflow (a query parameter of
# the hash route; the toggle's choice is otherwise kept in the browser's local storage).
MODEL_TRAINING_VIEW = "workflowType=machine_learning"


def run_page(base_url: str, experiment_id: str, run_id: str) -> str:
    """The MLflow UI page of one run, in the model-training view (MLflow 3's route:
    #/experiments/<id>/runs/<run id>?workflowType=machine_learning)."""
    return f"{base_url.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}?{MODEL_TRAINING_VIEW}"


def is_server(uri: str) -> bool:
    return uri.startswith(("http://", "https://"))


def where_to_look(uri: str, experiment_id: str, run_id: str) -> list[str]:
    """Lines to print after a run: the run's page for a server; for a local store, the command
    that serves it and the page it will show."""
    if is_server(uri):
        return [f"MLflow run page: {run_page(uri, experiment_id, run_id)}"]
    return [f"look at it: `mlflow ui --backend-store-uri {display(uri)}`, then "
            f"{run_page(LOCAL_UI, experiment_id, run_id)}; or `runner runs` / `runner compare RUN_A RUN_B` here"]
